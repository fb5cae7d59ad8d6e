/**
 * @file sharp, loaded on first use: a worker whose models take no images (tabular, text) never
 * loads it. Its native libraries (libvips) add about 30 MB to a process's RSS and 2.4 MB to each
 * heap that imports it, at start.
 */
import type Sharp from 'sharp';

let loading: Promise<typeof Sharp> | undefined;

/** sharp's default export, imported once. */
export const loadSharp = (): Promise<typeof Sharp> =>
  (loading ??= import('sharp').then((module) => module.default));
