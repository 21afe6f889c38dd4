/**
 * The slice of a pino logger this library uses. Declared here so that `qga/` stays a library of its own:
 * a pino logger fits as it is, and a caller without one passes `silentLogger`.
 */
export interface Logger {
  debug(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

const ignore = (): void => {};

export const silentLogger: Logger = { debug: ignore, info: ignore, warn: ignore, error: ignore };
