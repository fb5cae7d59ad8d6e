/**
 * The Kubernetes manifests of deploy/kubernetes as data: every YAML document, its schema check
 * against the Kubernetes and KEDA schemas bundled in kubernetes-models (offline), and the
 * environment a container of a Deployment would get from its ConfigMaps, Secrets and `env`.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { ScaledObject } from '@kubernetes-models/keda/keda.sh/v1alpha1/ScaledObject';
import { TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1/TriggerAuthentication';
import { Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { Job } from 'kubernetes-models/batch/v1/Job';
import { PodDisruptionBudget } from 'kubernetes-models/policy/v1/PodDisruptionBudget';
import { ConfigMap } from 'kubernetes-models/v1/ConfigMap';
import { Namespace } from 'kubernetes-models/v1/Namespace';
import { PersistentVolumeClaim } from 'kubernetes-models/v1/PersistentVolumeClaim';
import { Secret } from 'kubernetes-models/v1/Secret';
import { Service } from 'kubernetes-models/v1/Service';
import { parseAllDocuments } from 'yaml';
import { ROOT } from '../../scripts/lib/worker-process.js';

export const KUBERNETES_DIR = join(ROOT, 'deploy/kubernetes');

/** A parsed manifest: a plain object, typed loosely; the schema check says what it holds. */
export type Manifest = Record<string, unknown> & { apiVersion: string; kind: string };

/** One YAML document of a file under deploy/kubernetes. */
export interface ManifestDoc {
  /** Path relative to deploy/kubernetes. */
  file: string;
  doc: Manifest;
}

type Check = (doc: Manifest) => { validate(): void };

/** A model class as a check; the cast is the point: validate() says whether the data fits. */
const check =
  <T>(Model: new (data: T) => { validate(): void }): Check =>
  (doc) =>
    new Model(doc as unknown as T);

/** The kinds the manifests may use, by `apiVersion/kind`, each with its bundled schema. */
export const SCHEMAS: Readonly<Record<string, Check>> = Object.freeze({
  'v1/Namespace': check(Namespace),
  'v1/ConfigMap': check(ConfigMap),
  'v1/Secret': check(Secret),
  'v1/Service': check(Service),
  'v1/PersistentVolumeClaim': check(PersistentVolumeClaim),
  'apps/v1/Deployment': check(Deployment),
  'batch/v1/Job': check(Job),
  'policy/v1/PodDisruptionBudget': check(PodDisruptionBudget),
  'keda.sh/v1alpha1/ScaledObject': check(ScaledObject),
  'keda.sh/v1alpha1/TriggerAuthentication': check(TriggerAuthentication),
});

/**
 * Throws when the document's kind has no bundled schema or the document does not fit it (a
 * missing required field, a wrong type, a value outside an enum).
 */
export function validateManifest(doc: Manifest): void {
  const schema = SCHEMAS[`${doc.apiVersion}/${doc.kind}`];
  if (!schema) throw new Error(`no bundled schema for ${doc.apiVersion} ${doc.kind}`);
  schema(doc).validate();
}

function yamlFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return yamlFiles(path);
    return /\.ya?ml$/.test(entry.name) ? [path] : [];
  });
}

/** Every YAML file under deploy/kubernetes, relative, sorted. */
export const manifestFiles = (): string[] =>
  yamlFiles(KUBERNETES_DIR)
    .map((path) => relative(KUBERNETES_DIR, path))
    .sort();

/** Every document of every file except kustomization.yaml; throws on a YAML syntax error. */
export function loadManifests(): ManifestDoc[] {
  return manifestFiles()
    .filter((file) => file !== 'kustomization.yaml')
    .flatMap((file) =>
      parseAllDocuments(readFileSync(join(KUBERNETES_DIR, file), 'utf8')).map((parsed) => {
        if (parsed.errors.length > 0) throw new Error(`${file}: ${parsed.errors[0]?.message}`);
        return { file, doc: parsed.toJS() as Manifest };
      }),
    );
}

/** The kustomization.yaml of deploy/kubernetes. */
export function loadKustomization(): {
  resources: string[];
  images?: { name: string }[];
} {
  const text = readFileSync(join(KUBERNETES_DIR, 'kustomization.yaml'), 'utf8');
  return parseAllDocuments(text)[0]?.toJS() as { resources: string[]; images?: { name: string }[] };
}

/** A JSON path into a manifest, loosely: `at(doc, 'spec', 'template')`. */
export function at<T = unknown>(value: unknown, ...path: (string | number)[]): T | undefined {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string | number, unknown>)[key];
  }
  return current as T | undefined;
}

export const ofKind = (docs: readonly ManifestDoc[], kind: string): Manifest[] =>
  docs.filter(({ doc }) => doc.kind === kind).map(({ doc }) => doc);

export const nameOf = (doc: Manifest): string => at<string>(doc, 'metadata', 'name') ?? '';

/** A container of a pod template, as far as these checks read it. */
export interface Container {
  name: string;
  command?: string[];
  env?: {
    name: string;
    value?: string;
    valueFrom?: { secretKeyRef?: { name: string; key: string } };
  }[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  ports?: { name?: string; containerPort: number }[];
  livenessProbe?: { httpGet?: { path?: string; port: string | number } };
  readinessProbe?: { httpGet?: { path?: string; port: string | number } };
  lifecycle?: { preStop?: { exec?: { command?: string[] } } };
  resources?: { requests?: Record<string, string>; limits?: Record<string, string> };
  securityContext?: Record<string, unknown>;
}

export const containersOf = (workload: Manifest): Container[] =>
  at<Container[]>(workload, 'spec', 'template', 'spec', 'containers') ?? [];

/** The data of a ConfigMap or Secret (`data` decoded from base64, `stringData` as is). */
export function dataOf(doc: Manifest): Record<string, string> {
  const encoded = at<Record<string, string>>(doc, 'data') ?? {};
  const decoded =
    doc.kind === 'Secret'
      ? Object.fromEntries(
          Object.entries(encoded).map(([k, v]) => [k, Buffer.from(v, 'base64').toString()]),
        )
      : encoded;
  return { ...decoded, ...(at<Record<string, string>>(doc, 'stringData') ?? {}) };
}

/**
 * The environment a container gets: its `envFrom` sources in order, then its `env` (a later
 * entry wins, as in Kubernetes). `secrets` overrides Secret values (for placeholders).
 */
export function containerEnv(
  docs: readonly ManifestDoc[],
  container: Container,
  secrets: Record<string, string> = {},
): Record<string, string> {
  const source = (kind: string, name: string) => {
    const doc = ofKind(docs, kind).find((d) => nameOf(d) === name);
    if (!doc) throw new Error(`container ${container.name} reads a missing ${kind} ${name}`);
    return kind === 'Secret' ? { ...dataOf(doc), ...secrets } : dataOf(doc);
  };
  const env: Record<string, string> = {};
  for (const from of container.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, source('ConfigMap', from.configMapRef.name));
    if (from.secretRef) Object.assign(env, source('Secret', from.secretRef.name));
  }
  for (const entry of container.env ?? []) {
    const ref = entry.valueFrom?.secretKeyRef;
    const value = ref ? source('Secret', ref.name)[ref.key] : entry.value;
    if (value === undefined) throw new Error(`${container.name}: ${entry.name} has no value`);
    env[entry.name] = value;
  }
  return env;
}
