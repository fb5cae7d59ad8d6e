/**
 * The error catalogue. Every failure that crosses a boundary (SDK, HTTP, job, worker thread)
 * carries one of these codes; branch on `code`, never on `instanceof` or message text, because
 * errors cross package copies, threads and Redis.
 */
export interface ErrorCatalogueEntry {
  status: number;
  retryable: boolean;
  summary: string;
  fix: string;
  /**
   * The keys of `details` safe to show the caller: sent with a failed job through the queue and
   * in HTTP error bodies (bounded, see failure.ts). Other details stay in the process and its log.
   */
  expose?: readonly string[];
}

export const ERROR_CATALOGUE = {
  ERR_VALIDATION: {
    status: 400,
    retryable: false,
    summary: 'A request or option is malformed.',
    fix: 'Read the issues listed in the error; they name the path of each bad field.',
  },
  ERR_TENSOR_INVALID: {
    status: 400,
    retryable: false,
    summary:
      'A tensor cannot be built: bad dtype, shape, base64, or data that does not fit its shape.',
    fix: 'Send data whose element count equals the product of the shape, in the declared dtype.',
  },
  ERR_TENSOR_TOO_LARGE: {
    status: 413,
    retryable: false,
    summary: 'A tensor has more elements or bytes than the configured limit.',
    fix: 'Split the request, or raise MAX_TENSOR_BYTES on every process.',
    expose: ['input', 'shape', 'dtype', 'elements', 'bytes', 'maxBytes'],
  },
  ERR_INPUT_MISSING: {
    status: 400,
    retryable: false,
    summary: 'The model needs an input the request does not have.',
    fix: 'Send every input named in the model signature (`conveyor models inspect`).',
    expose: ['model', 'version', 'input'],
  },
  ERR_INPUT_UNEXPECTED: {
    status: 400,
    retryable: false,
    summary: 'The request has an input the model does not take.',
    fix: 'Use the input names of the model signature exactly.',
    expose: ['model', 'version', 'input'],
  },
  ERR_INPUT_DTYPE: {
    status: 400,
    retryable: false,
    summary: 'An input has a different dtype than the model expects.',
    fix: 'Convert the input to the dtype named in the error.',
    expose: ['model', 'version', 'input', 'expected', 'actual'],
  },
  ERR_INPUT_VALUE: {
    status: 400,
    retryable: false,
    summary:
      "An input value is out of its dtype's range: a float past its largest finite value (1e39 as float32), an integer out of range.",
    fix: 'Send values the dtype holds, or declare the input with a wider dtype.',
    expose: ['input', 'index', 'element', 'dtype', 'min', 'max'],
  },
  ERR_INPUT_SHAPE: {
    status: 400,
    retryable: false,
    summary: 'An input has a rank or dimension the model does not accept.',
    fix: 'Match the expected shape named in the error; -1 marks a free dimension.',
    expose: ['model', 'version', 'input', 'expected', 'actual'],
  },
  ERR_OUTPUT_UNKNOWN: {
    status: 400,
    retryable: false,
    summary: 'The request asks for an output the model does not have.',
    fix: 'Ask only for output names of the model signature.',
  },
  ERR_FEATURES_UNSUPPORTED: {
    status: 400,
    retryable: false,
    summary: 'Named features sent to a model with no single 2-D input with column labels.',
    fix: 'Send the tensor under its input name, or add `labels` to the input in model.json.',
  },
  ERR_RECORD_FIELD: {
    status: 400,
    retryable: false,
    summary:
      'A record (a JSON object of named fields) has a missing, extra, wrongly typed, out-of-range or unknown-category field.',
    fix: "Read details.fields: each names the field, the row and the reason; match the model's record fields (`conveyor models inspect`).",
    expose: ['input', 'row', 'field', 'reason', 'count', 'fields'],
  },
  ERR_TEXT_TOO_LONG: {
    status: 413,
    retryable: false,
    summary:
      'A text is longer than the model takes: over its character limit, over maxLength tokens with truncation off, or over its most windows.',
    fix: 'Send a shorter text or split it, or raise maxChars, maxLength or chunk.maxWindows in the model.json text step.',
    expose: ['input', 'row', 'chars', 'maxChars', 'tokens', 'maxLength', 'windows', 'maxWindows'],
  },
  ERR_IMAGE_INVALID: {
    status: 400,
    retryable: false,
    summary: 'An image input is not an image sharp can decode (PNG, JPEG, WebP, GIF, TIFF, AVIF).',
    fix: 'Send the encoded file bytes, one image per row, not pixels or a path; check the file opens.',
    expose: ['input', 'row', 'bytes'],
  },
  ERR_IMAGE_TOO_LARGE: {
    status: 413,
    retryable: false,
    summary:
      "An image has more pixels than the model's maxPixels, read from its header before decoding.",
    fix: 'Send a smaller image, or raise maxPixels in the model.json image step.',
    expose: ['row', 'width', 'height', 'maxPixels'],
  },
  ERR_PAYLOAD_INVALID: {
    status: 400,
    retryable: false,
    summary: 'A job on the queue is not a valid Conveyor job payload.',
    fix: 'Enqueue jobs with the SDK or the HTTP API, which write the documented payload format.',
  },
  ERR_RESULT_TOO_LARGE: {
    status: 507,
    retryable: false,
    summary: "A job's outputs are larger than the worker may store in Redis (RESULT_MAX_BYTES).",
    fix: 'Ask for fewer outputs or smaller inputs, or raise RESULT_MAX_BYTES on the workers.',
  },
  ERR_MODEL_NOT_FOUND: {
    status: 404,
    retryable: false,
    summary: 'No worker serves a model of this name, or the name is not valid.',
    fix: 'Check the model name and that a worker serving it is running.',
  },
  ERR_MODEL_VERSION_NOT_FOUND: {
    status: 404,
    retryable: false,
    summary: 'The model exists but not in the requested version.',
    fix: 'Ask for one of the versions the error lists, or omit the version for the latest.',
  },
  ERR_ALIAS_NOT_FOUND: {
    status: 404,
    retryable: false,
    summary: 'The model has no alias of the name the request gives instead of a version.',
    fix: 'Name a version, an alias that `conveyor models history` or GET /v1/models/<name> lists, or nothing for production.',
  },
  ERR_MODEL_VERSION_EXISTS: {
    status: 409,
    retryable: false,
    summary:
      'A model version of this number is already in the model repository; a published version is never overwritten.',
    fix: 'Publish under the next free version (leave the version out), or remove the old version folder first.',
  },
  ERR_MODEL_FILE_INVALID: {
    status: 400,
    retryable: false,
    summary:
      'A model file being published is not an ONNX model onnxruntime can load (not ONNX, truncated, or with an input or output Conveyor cannot carry).',
    fix: 'Publish the .onnx file as exported (check it with `conveyor models inspect`); the issues say what onnxruntime reported.',
  },
  ERR_MODEL_UNAVAILABLE: {
    status: 503,
    retryable: true,
    summary:
      'The model could not be loaded (missing or corrupt file, or a config that does not match it).',
    fix: 'Read the worker log for the model; fix the file or model.json and restart the worker.',
  },
  ERR_MODEL_CONFIG_INVALID: {
    status: 500,
    retryable: false,
    summary: 'A model.json file is malformed.',
    fix: 'Correct model.json; the error lists each problem with its path.',
  },
  ERR_MODEL_UNSAFE: {
    status: 400,
    retryable: false,
    summary:
      'An ONNX file refers to external data outside its own folder (an absolute path, `..`, or a link leading out).',
    fix: 'Re-save the model with its external data files beside it (onnx.save_model with a relative location), or inline the weights.',
  },
  ERR_INFERENCE_FAILED: {
    status: 500,
    retryable: false,
    summary: 'onnxruntime rejected the inputs or failed while running the model.',
    fix: 'Check that the inputs are in the range the model was trained for; the message has the runtime error.',
  },
  ERR_DEADLINE_EXCEEDED: {
    status: 504,
    retryable: false,
    summary: 'The job reached a worker after its deadline, so it was not run.',
    fix: 'Give the job a later deadline, or add workers so the queue drains faster.',
  },
  ERR_JOB_TIMEOUT: {
    status: 504,
    retryable: true,
    summary: 'The job did not finish while the caller waited; it may still finish later.',
    fix: 'Fetch the result later by job id, or wait longer.',
  },
  ERR_JOB_NOT_FOUND: {
    status: 404,
    retryable: false,
    summary:
      'No job with this id exists (it never did, or it was trimmed after its retention time).',
    fix: 'Check the id; raise the retention settings if results are read late.',
  },
  ERR_PREDICTION_NOT_FOUND: {
    status: 404,
    retryable: false,
    summary:
      "Feedback names a prediction that is neither in its model's prediction log nor a completed job still kept.",
    fix: "Send feedback while the job is kept (KEEP_COMPLETED_*), or log the model's predictions (`log.sample`).",
  },
  ERR_FEEDBACK_EXISTS: {
    status: 409,
    retryable: false,
    summary:
      'The prediction already has feedback with another truth; a prediction takes one feedback, and the same truth again answers the first receipt.',
    fix: 'Send the truth recorded first (the error names its feedback entry), or leave the prediction be: a correction is not counted twice.',
    expose: ['id', 'model', 'entryId'],
  },
  ERR_JOB_NOT_CANCELLABLE: {
    status: 409,
    retryable: false,
    summary: 'The job is already running or finished, so it can no longer be cancelled.',
    fix: 'Only waiting, prioritized or delayed jobs can be cancelled; read its result instead.',
  },
  ERR_IDEMPOTENCY_KEY_REUSED: {
    status: 422,
    retryable: false,
    summary:
      'The idempotency key was used before for a different request (model, version or alias, inputs, outputs or priority).',
    fix: 'Use a new key for a new request; repeat a key only with exactly the same request.',
  },
  ERR_IDEMPOTENCY_IN_PROGRESS: {
    status: 409,
    retryable: true,
    summary:
      'A request with this idempotency key is still being accepted, by this or another producer or client.',
    fix: 'Retry after a second with the same key and request: it then returns the job the first request created.',
  },
  ERR_JOB_STALLED: {
    status: 500,
    retryable: false,
    summary:
      'The job was running on a worker that stopped (killed, crashed or out of memory) more than once, so BullMQ failed it instead of handing it out again.',
    fix: 'Read the logs and exit codes of the workers around the job: a job that kills its worker (memory, a crash in the model) fails this way. Re-submit it once the cause is fixed.',
  },
  ERR_JOB_FAILED: {
    status: 500,
    retryable: false,
    summary: 'The job failed with a reason that carries no Conveyor code.',
    fix: 'Read the failure reason; it comes from outside Conveyor.',
  },
  ERR_BATCH_NOT_FOUND: {
    status: 404,
    retryable: false,
    summary: 'No batch with this id exists (it never did, or it expired with its completed jobs).',
    fix: 'Check the id; a batch is kept as long as completed jobs are (KEEP_COMPLETED_AGE_S).',
  },
  ERR_CALLBACK_NOT_ALLOWED: {
    status: 400,
    retryable: false,
    summary:
      'The job asks for a callback_url this producer will not call: webhooks are off, or the host resolves to a loopback, private or link-local address.',
    fix: 'Set WEBHOOK_SECRET to turn webhooks on; use a public host, or list it in WEBHOOK_ALLOWED_HOSTS.',
  },
  ERR_QUEUE_UNAVAILABLE: {
    status: 503,
    retryable: true,
    summary: 'Redis did not answer.',
    fix: 'Check REDIS_URL and that Redis is up; the client can retry.',
  },
  ERR_CONFIG_INVALID: {
    status: 500,
    retryable: false,
    summary: 'The environment configuration is invalid.',
    fix: 'Fix every variable listed in the error (see docs/configuration.md).',
  },
  ERR_CLOSED: {
    status: 503,
    retryable: false,
    summary: 'The client or engine was closed before the call.',
    fix: 'Create a new client; do not call it after close().',
  },
  ERR_ROUTE_NOT_FOUND: {
    status: 404,
    retryable: false,
    summary: 'No HTTP route has this path.',
    fix: 'Check the URL: health routes are /v2/health/live and /v2/health/ready, inference /v2/models/<name>/infer.',
  },
  ERR_UNSUPPORTED_MEDIA_TYPE: {
    status: 415,
    retryable: false,
    summary: 'The request body has a content type the route does not read.',
    fix: 'Send JSON with `content-type: application/json`; upload a model as `application/octet-stream`.',
  },
  ERR_PAYLOAD_TOO_LARGE: {
    status: 413,
    retryable: false,
    summary:
      'The HTTP request body is larger than MAX_BODY_BYTES (MAX_MODEL_UPLOAD_BYTES for a model upload).',
    fix: 'Split the request, send tensors in binary form, or raise MAX_BODY_BYTES (MAX_MODEL_UPLOAD_BYTES) on the producer.',
  },
  ERR_DATATYPE_UNSUPPORTED: {
    status: 400,
    retryable: false,
    summary:
      'A tensor has a protocol datatype Conveyor cannot carry (every OIP v2 datatype is carried today; the code stays for datatypes a later protocol adds).',
    fix: 'Send one of the datatypes docs/api.md lists.',
  },
  ERR_UNAUTHORIZED: {
    status: 401,
    retryable: false,
    summary: 'The request has no API key, or one the producer does not know.',
    fix: 'Send `Authorization: Bearer <secret>` with a secret listed in API_KEYS.',
  },
  ERR_FORBIDDEN: {
    status: 403,
    retryable: false,
    summary: 'The API key is valid but lacks the scope the route needs.',
    fix: 'Use a key with the scope named in the error (admin implies infer).',
  },
  ERR_QUEUE_FULL: {
    status: 429,
    retryable: true,
    summary: 'The model queue holds as many jobs not yet started as its limit allows.',
    fix: 'Retry after the Retry-After seconds, add workers, or raise MAX_QUEUE_DEPTH.',
  },
  ERR_RATE_LIMITED: {
    status: 429,
    retryable: true,
    summary: 'The API key (or client address) made more requests than RATE_LIMIT_MAX per window.',
    fix: 'Retry after the Retry-After seconds, spread requests out, or use batches.',
  },
  ERR_USAGE: {
    status: 400,
    retryable: false,
    summary:
      'A `conveyor` command line has an unknown command or flag, a missing argument or a bad value.',
    fix: 'Run the command with `--help`; docs/cli.md lists every command, flag and exit code.',
  },
  ERR_FILE_UNREADABLE: {
    status: 400,
    retryable: false,
    summary: 'A file named on the `conveyor` command line cannot be read or written.',
    fix: 'Check the path and its permissions; the message has the operating system error.',
  },
  ERR_SCALER_FAILED: {
    status: 502,
    retryable: true,
    summary:
      'The command `conveyor autoscale` runs to read or change the worker replicas (`docker compose ps` or `up --scale`) failed.',
    fix: 'The message has the command and its error output; check the compose file, the service name and that Docker answers.',
  },
  ERR_INTERNAL: {
    status: 500,
    retryable: false,
    summary: 'An unexpected error; a bug in Conveyor.',
    fix: 'Report it with the log lines around it.',
  },
} as const satisfies Record<string, ErrorCatalogueEntry>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export const ERROR_CODES = Object.freeze(Object.keys(ERROR_CATALOGUE) as ErrorCode[]);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CATALOGUE, value);
}

/** One problem inside a validation error: where it is and what is wrong. */
export interface ErrorIssue {
  path: string;
  message: string;
}

export interface ConveyorErrorOptions {
  /** Log-safe context: names, shapes, ids; never tensor data or credentials. */
  details?: Record<string, unknown>;
  issues?: ErrorIssue[];
  cause?: unknown;
}

/** The one error class of Conveyor: a stable `code`, a message for people, and log-safe details. */
export class ConveyorError extends Error {
  override readonly name = 'ConveyorError';
  readonly code: ErrorCode;
  readonly details: Readonly<Record<string, unknown>>;
  readonly issues: readonly ErrorIssue[];

  constructor(code: ErrorCode, message: string, options: ConveyorErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = Object.freeze({ ...options.details });
    this.issues = Object.freeze([...(options.issues ?? [])]);
  }

  get status(): number {
    return ERROR_CATALOGUE[this.code].status;
  }

  get retryable(): boolean {
    return ERROR_CATALOGUE[this.code].retryable;
  }

  toJSON(): {
    code: ErrorCode;
    message: string;
    details: Record<string, unknown>;
    issues: ErrorIssue[];
  } {
    return {
      code: this.code,
      message: this.message,
      details: { ...this.details },
      issues: [...this.issues],
    };
  }
}

/** True for any ConveyorError, even one from another copy of this package or another thread. */
export function isConveyorError(value: unknown): value is ConveyorError {
  return (
    value instanceof Error &&
    isErrorCode((value as { code?: unknown }).code) &&
    value.name === 'ConveyorError'
  );
}

/** Turns anything thrown into a ConveyorError, keeping the original as `cause`. */
export function toConveyorError(
  value: unknown,
  fallback: ErrorCode = 'ERR_INTERNAL',
): ConveyorError {
  if (isConveyorError(value)) return value;
  const message = value instanceof Error ? value.message : String(value);
  return new ConveyorError(fallback, message, { cause: value });
}

/**
 * What a promise-returning function that caught `value` as a synchronous throw returns instead: a
 * rejection with it (a ConveyorError when it was not an Error), so that its callers only ever see
 * rejections.
 */
export function rejectionOf(value: unknown): Promise<never> {
  return Promise.reject(value instanceof Error ? value : toConveyorError(value));
}
