/**
 * The properties issue 19 asks of the Kubernetes manifests, as a list of problems (empty: none):
 * probes on paths the app really serves and ports it really listens on, non-root read-only
 * containers, resources, a grace period above the drain, a PodDisruptionBudget per Deployment,
 * and one KEDA ScaledObject per worker Deployment on the backlog metric.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { CONFIG_KEYS, DEFAULTS, SHUTDOWN_MARGIN_MS, loadConfig } from '@conveyor/shared';
import { ROOT } from '../../scripts/lib/worker-process.js';
import {
  at,
  containerEnv,
  containersOf,
  dataOf,
  nameOf,
  ofKind,
  type Container,
  type Manifest,
  type ManifestDoc,
} from './kubernetes.js';

const source = (path: string) => readFileSync(join(ROOT, path), 'utf8');

/** The paths the worker's health server answers: its `case '/…':` labels. */
export const workerRoutes = (): string[] =>
  [...source('apps/worker/src/health-server.ts').matchAll(/case '(\/[^']*)':/g)].map((m) => m[1]!);

/** The producer's health routes: the `app.get('/…'` of its health plugin. */
export const producerHealthRoutes = (): string[] =>
  [...source('apps/producer/src/plugins/health.ts').matchAll(/app\.get\(\s*'(\/[^']*)'/g)].map(
    (m) => m[1]!,
  );

/** The backlog gauge, as the producer's queue metrics name it. */
export const BACKLOG_METRIC = 'conveyor_queue_backlog_seconds';
export const producerExports = (name: string): boolean =>
  source('apps/producer/src/metrics/queue-metrics.ts').includes(`'${name}'`);

/** Placeholder-free values for the Secret, so the rest of the configuration can be loaded. */
export const TEST_SECRETS = Object.freeze({
  REDIS_URL: 'redis://:secret@redis.example:6379',
  API_KEYS: 'ops:admin:0123456789abcdef0123',
});

/** The worker RSS of each model the saved bench run measured (docs/benchmarks.json, scenario 13). */
export const measuredWorkerRssMiB = (): Record<string, number> => {
  const saved = JSON.parse(source('docs/benchmarks.json')) as {
    coldStart?: Record<string, { workerRssMiB?: number }>;
  };
  const rss: Record<string, number> = {};
  for (const [model, start] of Object.entries(saved.coldStart ?? {}))
    if (start.workerRssMiB !== undefined) rss[model] = start.workerRssMiB;
  return rss;
};

const UNITS: Readonly<Record<string, number>> = { Ki: 1 / 1024, Mi: 1, Gi: 1024 };

/** A memory quantity ("384Mi", "1Gi") in MiB; NaN for a form these manifests do not use. */
const mebibytes = (quantity: string | undefined): number => {
  const match = /^(\d+)(Ki|Mi|Gi)$/.exec(quantity ?? '');
  return match ? Number(match[1]) * (UNITS[match[2]!] as number) : Number.NaN;
};

/**
 * A worker of a model the bench measured requests at least the RSS it reached serving queued jobs,
 * and is limited at twice that or more: figures that move with each saved run, checked here
 * rather than quoted in the manifests' comments.
 */
function memoryProblems(c: Container, model: string | undefined, where: string): string[] {
  const rss = model === undefined ? undefined : measuredWorkerRssMiB()[model];
  if (rss === undefined) return [];
  const request = c.resources?.requests?.memory;
  const limit = c.resources?.limits?.memory;
  const problems: string[] = [];
  if (!(mebibytes(request) >= rss))
    problems.push(
      `${where}: requests.memory ${request} is below the ${rss} MiB the bench measured`,
    );
  if (!(mebibytes(limit) >= 2 * rss))
    problems.push(
      `${where}: limits.memory ${limit} is below twice the ${rss} MiB the bench measured`,
    );
  return problems;
}

const isWorker = (c: Container) => c.command?.some((arg) => arg.includes('apps/worker/')) ?? false;
const isProducer = (c: Container) =>
  c.command?.some((arg) => arg.includes('apps/producer/')) ?? false;

/** Problems of one container of a Deployment; `where` prefixes each. */
function containerProblems(docs: readonly ManifestDoc[], c: Container, where: string): string[] {
  const problems: string[] = [];
  const env = containerEnv(docs, c, TEST_SECRETS);
  for (const key of Object.keys(env))
    if (!(CONFIG_KEYS as readonly string[]).includes(key))
      problems.push(`${where}: ${key} is no setting`);
  const config = loadConfig(env);
  const routes = isWorker(c) ? workerRoutes() : isProducer(c) ? producerHealthRoutes() : [];
  const listens = isWorker(c)
    ? { health: config.WORKER_HTTP_PORT }
    : { http: config.PRODUCER_PORT, grpc: config.GRPC_PORT };
  for (const port of c.ports ?? []) {
    const expected = listens[port.name as keyof typeof listens];
    if (expected !== port.containerPort)
      problems.push(
        `${where}: port ${port.name} is ${port.containerPort}, the app listens on ${expected}`,
      );
  }
  for (const [probe, word] of [
    ['livenessProbe', 'live'],
    ['readinessProbe', 'ready'],
  ] as const) {
    const get = c[probe]?.httpGet;
    if (!get) {
      problems.push(`${where}: no ${probe} httpGet`);
      continue;
    }
    if (!routes.includes(get.path ?? '') || !(get.path ?? '').includes(word))
      problems.push(`${where}: ${probe} ${get.path} is not a ${word} route of ${routes.join(' ')}`);
    if (!(c.ports ?? []).some((p) => p.name === get.port || p.containerPort === get.port))
      problems.push(`${where}: ${probe} port ${get.port} is not a containerPort`);
  }
  for (const kind of ['requests', 'limits'] as const)
    for (const resource of ['cpu', 'memory'])
      if (!c.resources?.[kind]?.[resource]) problems.push(`${where}: no ${kind}.${resource}`);
  if (isWorker(c)) problems.push(...memoryProblems(c, env.MODELS, where));
  return problems;
}

/** Security problems of every container of a pod template (Deployments and Jobs alike). */
function securityProblems(workload: Manifest): string[] {
  const where = `${workload.kind} ${nameOf(workload)}`;
  const pod = at<Record<string, unknown>>(workload, 'spec', 'template', 'spec', 'securityContext');
  return containersOf(workload).flatMap((c) => {
    const ctx = { ...pod, ...c.securityContext };
    const problems: string[] = [];
    if (ctx.runAsNonRoot !== true) problems.push(`${where}/${c.name}: runAsNonRoot`);
    if (typeof ctx.runAsUser !== 'number' || ctx.runAsUser === 0)
      problems.push(`${where}/${c.name}: a numeric non-zero runAsUser`);
    if (c.securityContext?.readOnlyRootFilesystem !== true)
      problems.push(`${where}/${c.name}: readOnlyRootFilesystem`);
    if (c.securityContext?.allowPrivilegeEscalation !== false)
      problems.push(`${where}/${c.name}: allowPrivilegeEscalation false`);
    if (!at<string[]>(c.securityContext, 'capabilities', 'drop')?.includes('ALL'))
      problems.push(`${where}/${c.name}: capabilities drop ALL`);
    return problems;
  });
}

/** The seconds a container's preStop `sleep N` adds before SIGTERM. */
const preStopSeconds = (c: Container) => {
  const command = c.lifecycle?.preStop?.exec?.command ?? [];
  return command[0] === 'sleep' ? Number(command[1]) : 0;
};

/** Grace period, PodDisruptionBudget and (for workers) ScaledObject of one Deployment. */
function deploymentProblems(docs: readonly ManifestDoc[], deployment: Manifest): string[] {
  const name = nameOf(deployment);
  const problems: string[] = [];
  const labels =
    at<Record<string, string>>(deployment, 'spec', 'template', 'metadata', 'labels') ?? {};
  const selects = (pdb: Manifest) => {
    const match = at<Record<string, string>>(pdb, 'spec', 'selector', 'matchLabels') ?? {};
    return (
      Object.keys(match).length > 0 && Object.entries(match).every(([k, v]) => labels[k] === v)
    );
  };
  if (ofKind(docs, 'PodDisruptionBudget').filter(selects).length !== 1)
    problems.push(`Deployment ${name}: not exactly one PodDisruptionBudget selects its pods`);
  const grace = at<number>(deployment, 'spec', 'template', 'spec', 'terminationGracePeriodSeconds');
  for (const c of containersOf(deployment)) {
    const { SHUTDOWN_TIMEOUT_MS } = loadConfig(containerEnv(docs, c, TEST_SECRETS));
    const drainMs = Math.max(SHUTDOWN_TIMEOUT_MS, DEFAULTS.shutdownTimeoutMs);
    const needS = preStopSeconds(c) + (drainMs + SHUTDOWN_MARGIN_MS) / 1000;
    if (grace === undefined || grace < needS)
      problems.push(`Deployment ${name}: terminationGracePeriodSeconds ${grace} < ${needS}`);
    problems.push(...containerProblems(docs, c, `Deployment ${name}/${c.name}`));
    if (isWorker(c))
      problems.push(...scaledObjectProblems(docs, name, containerEnv(docs, c, TEST_SECRETS)));
  }
  return problems;
}

/** The one ScaledObject of a worker Deployment: from zero, on the backlog, never on +Inf. */
function scaledObjectProblems(
  docs: readonly ManifestDoc[],
  deployment: string,
  env: Record<string, string>,
): string[] {
  const where = `Deployment ${deployment}`;
  const scaled = ofKind(docs, 'ScaledObject').filter(
    (s) => at(s, 'spec', 'scaleTargetRef', 'name') === deployment,
  );
  if (scaled.length !== 1) return [`${where}: ${scaled.length} ScaledObjects target it, not 1`];
  const spec = at<Record<string, unknown>>(scaled[0], 'spec') ?? {};
  const problems: string[] = [];
  if (spec.minReplicaCount !== 0) problems.push(`${where}: minReplicaCount is not 0`);
  if (typeof spec.maxReplicaCount !== 'number' || spec.maxReplicaCount < 1)
    problems.push(`${where}: no maxReplicaCount`);
  const models = (env.MODELS ?? '').split(',').filter(Boolean);
  if (models.length !== 1) problems.push(`${where}: MODELS names ${models.length} models, not 1`);
  const triggers =
    at<{ type: string; metadata?: Record<string, string> }[]>(spec, 'triggers') ?? [];
  for (const t of triggers) {
    const query = t.metadata?.query ?? '';
    if (t.type !== 'prometheus') problems.push(`${where}: a ${t.type} trigger, not prometheus`);
    else if (!query.includes(`${BACKLOG_METRIC}{model="${models[0]}"}`))
      problems.push(`${where}: a trigger not on ${BACKLOG_METRIC} of model ${models[0]}`);
    // KEDA reads +Inf as 0 (or an error): every query must leave it out or count it.
    else if (!/< \+Inf\)|== \+Inf\)/.test(query))
      problems.push(`${where}: a query that can return +Inf: ${query}`);
    if (!Number.isFinite(Number(t.metadata?.threshold)))
      problems.push(`${where}: a trigger without a numeric threshold`);
  }
  if (triggers.length === 0) problems.push(`${where}: no trigger`);
  return problems;
}

/** Every problem of the manifests; an empty list when they have the properties above. */
export function policyProblems(docs: readonly ManifestDoc[]): string[] {
  const problems: string[] = [];
  if (!producerExports(BACKLOG_METRIC)) problems.push(`the producer exports no ${BACKLOG_METRIC}`);
  for (const kind of ['ConfigMap', 'Secret'])
    for (const doc of ofKind(docs, kind))
      for (const key of Object.keys(dataOf(doc)))
        if (!(CONFIG_KEYS as readonly string[]).includes(key))
          problems.push(`${kind} ${nameOf(doc)}: ${key} is no setting`);
  for (const workload of [...ofKind(docs, 'Deployment'), ...ofKind(docs, 'Job')])
    problems.push(...securityProblems(workload));
  for (const deployment of ofKind(docs, 'Deployment'))
    problems.push(...deploymentProblems(docs, deployment));
  return problems;
}
