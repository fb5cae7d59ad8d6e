// Library code logs through pino; a console call in a test run is a mistake.
for (const method of ['log', 'info', 'warn', 'error', 'debug'] as const) {
  // eslint-disable-next-line no-console
  console[method] = (...args: unknown[]) => {
    throw new Error(`console.${method} called: ${args.map(String).join(' ').slice(0, 200)}`);
  };
}
