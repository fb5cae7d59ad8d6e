/**
 * deploy/kubernetes: every document fits the Kubernetes or KEDA schema bundled in
 * kubernetes-models (offline), the kustomization applies every file, and the manifests keep the
 * properties of issue 19 (test/support/kubernetes-policy.ts), each shown to catch its breakage.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { isConveyorError, loadConfig } from '@conveyor/shared';
import { MODELS } from '../scripts/lib/worker-process.js';
import {
  at,
  containerEnv,
  containersOf,
  dataOf,
  loadKustomization,
  loadManifests,
  manifestFiles,
  nameOf,
  ofKind,
  validateManifest,
  type Manifest,
  type ManifestDoc,
} from './support/kubernetes.js';
import {
  TEST_SECRETS,
  policyProblems,
  producerHealthRoutes,
  workerRoutes,
} from './support/kubernetes-policy.js';

const docs = loadManifests();
const named = (kind: string, name: string): Manifest => {
  const doc = ofKind(docs, kind).find((d) => nameOf(d) === name);
  if (!doc) throw new Error(`no ${kind} ${name}`);
  return doc;
};
const workers = ofKind(docs, 'Deployment').filter((d) =>
  containersOf(d).some((c) => c.command?.some((a) => a.includes('apps/worker/'))),
);

/** The manifests with one document changed by `change` (on a deep copy). */
function changed(kind: string, name: string, change: (doc: Manifest) => void): ManifestDoc[] {
  return docs.map((entry) => {
    if (entry.doc.kind !== kind || nameOf(entry.doc) !== name) return entry;
    const doc = structuredClone(entry.doc);
    change(doc);
    return { ...entry, doc };
  });
}

const firstContainer = (doc: Manifest) => {
  const container = containersOf(doc)[0];
  if (!container) throw new Error(`${nameOf(doc)} has no container`);
  return container;
};

describe('deploy/kubernetes schemas', () => {
  it('holds a producer, a worker Deployment per model and their ScaledObjects', () => {
    expect(ofKind(docs, 'Deployment').map(nameOf).sort()).toEqual([
      'conveyor-producer',
      'conveyor-worker-iris',
      'conveyor-worker-ocr',
      'conveyor-worker-text-direction',
    ]);
    expect(ofKind(docs, 'ScaledObject')).toHaveLength(workers.length);
  });

  it.each(docs.map(({ file, doc }) => [`${file}: ${doc.kind} ${nameOf(doc)}`, doc] as const))(
    '%s fits its bundled schema',
    (_label, doc) => {
      expect(() => validateManifest(doc)).not.toThrow();
    },
  );

  it('rejects documents that do not fit: a wrong type, a missing field, an unknown kind', () => {
    const producer = named('Deployment', 'conveyor-producer');
    const badPort = structuredClone(producer);
    firstContainer(badPort).ports = [{ name: 'http', containerPort: '8080' as unknown as number }];
    expect(() => validateManifest(badPort)).toThrow(/containerPort must be integer/);
    const noSelector = structuredClone(producer);
    delete (noSelector.spec as Record<string, unknown>).selector;
    expect(() => validateManifest(noSelector)).toThrow(/selector/);
    const scaled = structuredClone(named('ScaledObject', 'conveyor-worker-iris'));
    (scaled.spec as Record<string, unknown>).minReplicaCount = 'zero';
    expect(() => validateManifest(scaled)).toThrow(/minReplicaCount must be integer/);
    expect(() => validateManifest({ ...producer, kind: 'Deploymnet' })).toThrow(
      /no bundled schema/,
    );
  });

  it('applies every manifest through kustomization.yaml, with one image name', () => {
    const { resources, images } = loadKustomization();
    const topLevel = manifestFiles().filter((f) => !f.includes('/') && f !== 'kustomization.yaml');
    expect([...resources].sort()).toEqual(topLevel);
    const imageNames = new Set(
      [...ofKind(docs, 'Deployment'), ...ofKind(docs, 'Job')].flatMap((d) =>
        containersOf(d).map((c) => String(at(c, 'image')).split(':')[0]),
      ),
    );
    expect([...imageNames]).toEqual(images?.map((i) => i.name));
  });
});

describe('deploy/kubernetes policy', () => {
  it('reads the health routes from the apps’ sources', () => {
    expect(workerRoutes()).toEqual(expect.arrayContaining(['/livez', '/readyz', '/metrics']));
    expect(producerHealthRoutes()).toEqual(['/v2/health/live', '/v2/health/ready']);
  });

  it('finds no problem in the shipped manifests', () => {
    expect(policyProblems(docs)).toEqual([]);
  });

  const worker = 'conveyor-worker-iris';
  const breakages: [string, ManifestDoc[], RegExp][] = [
    [
      'a missing liveness probe',
      changed('Deployment', worker, (d) => delete firstContainer(d).livenessProbe),
      /no livenessProbe/,
    ],
    [
      'a probe on a path the worker does not serve',
      changed('Deployment', worker, (d) => {
        firstContainer(d).readinessProbe = { httpGet: { path: '/healthz', port: 'health' } };
      }),
      /readinessProbe \/healthz is not a ready route/,
    ],
    [
      'a containerPort the worker does not listen on',
      changed('Deployment', worker, (d) => {
        firstContainer(d).ports = [{ name: 'health', containerPort: 9000 }];
      }),
      /port health is 9000, the app listens on 9464/,
    ],
    [
      'a container allowed to run as root',
      changed('Deployment', 'conveyor-producer', (d) => {
        (
          at<Record<string, unknown>>(d, 'spec', 'template', 'spec', 'securityContext') ?? {}
        ).runAsNonRoot = false;
      }),
      /producer: runAsNonRoot/,
    ],
    [
      'a writable root file system',
      changed('Job', 'conveyor-models-seed', (d) => {
        firstContainer(d).securityContext = { allowPrivilegeEscalation: false };
      }),
      /seed: readOnlyRootFilesystem/,
    ],
    [
      'no memory limit',
      changed('Deployment', worker, (d) => delete firstContainer(d).resources?.limits?.memory),
      /no limits.memory/,
    ],
    [
      'a memory request below the RSS the bench measured',
      changed('Deployment', worker, (d) => {
        const resources = firstContainer(d).resources;
        if (resources?.requests) resources.requests.memory = '128Mi';
      }),
      /iris\/worker: requests.memory 128Mi is below the [\d.]+ MiB the bench measured/,
    ],
    [
      'a memory limit below twice that RSS',
      changed('Deployment', 'conveyor-worker-text-direction', (d) => {
        const resources = firstContainer(d).resources;
        if (resources?.limits) resources.limits.memory = '512Mi';
      }),
      /limits.memory 512Mi is below twice the [\d.]+ MiB the bench measured/,
    ],
    [
      'a grace period shorter than the drain',
      changed('Deployment', worker, (d) => {
        (
          at<Record<string, unknown>>(d, 'spec', 'template', 'spec') ?? {}
        ).terminationGracePeriodSeconds = 30;
      }),
      /terminationGracePeriodSeconds 30 < 35/,
    ],
    [
      'a ScaledObject on KEDA’s redis list scaler',
      changed('ScaledObject', worker, (d) => {
        (d.spec as { triggers: unknown[] }).triggers = [
          { type: 'redis', metadata: { listName: 'bull:iris:wait', listLength: '10' } },
        ];
      }),
      /a redis trigger, not prometheus/,
    ],
    [
      'a backlog query that passes +Inf on to KEDA',
      changed('ScaledObject', worker, (d) => {
        const trigger = at<{ metadata: Record<string, string> }>(d, 'spec', 'triggers', 0);
        if (trigger) trigger.metadata.query = 'sum(conveyor_queue_backlog_seconds{model="iris"})';
      }),
      /a query that can return \+Inf/,
    ],
    [
      'a worker Deployment without its ScaledObject',
      docs.filter((e) => !(e.doc.kind === 'ScaledObject' && nameOf(e.doc) === worker)),
      /0 ScaledObjects target it/,
    ],
    [
      'a Deployment without a PodDisruptionBudget',
      docs.filter((e) => !(e.doc.kind === 'PodDisruptionBudget' && nameOf(e.doc) === worker)),
      /not exactly one PodDisruptionBudget/,
    ],
    [
      'a ConfigMap key that is no setting',
      changed('ConfigMap', 'conveyor-config', (d) => {
        (d.data as Record<string, string>).MODEL_REPO = '/models';
      }),
      /MODEL_REPO is no setting/,
    ],
  ];
  it.each(breakages)('catches %s', (_name, broken, problem) => {
    expect(policyProblems(broken).join('\n')).toMatch(problem);
  });

  it('ships Secret placeholders that stop a pod at start, naming each variable', () => {
    const secret = dataOf(named('Secret', 'conveyor-secrets'));
    expect(Object.keys(secret).sort()).toEqual(Object.keys(TEST_SECRETS).sort());
    let error: unknown;
    try {
      loadConfig(secret);
    } catch (caught) {
      error = caught;
    }
    expect(isConveyorError(error) && error.code).toBe('ERR_CONFIG_INVALID');
    expect(String((error as Error).message)).toMatch(/REDIS_URL/);
    expect(String((error as Error).message)).toMatch(/API_KEYS/);
  });

  it.each(workers.map((d) => [nameOf(d), d] as const))(
    '%s serves one model of the shipped repository, scaled to zero and back',
    (_name, deployment) => {
      const env = containerEnv(docs, firstContainer(deployment), TEST_SECRETS);
      const config = loadConfig(env);
      expect(config.MODELS).toHaveLength(1);
      expect(existsSync(join(MODELS, config.MODELS[0] ?? '', '1', 'model.json'))).toBe(true);
      // A model scaled to zero must stay announced for far longer than a quiet night.
      expect(config.MODEL_EXPIRY_MS).toBeGreaterThanOrEqual(7 * 24 * 3600 * 1000);
    },
  );
});
