// One error type for everything a caller did wrong or may not do. Modules below the HTTP shell
// (registry, monitor) throw it; http/errors.ts turns it into a JSON answer with the status and a
// stable code. It lives in lib/ so that the registry does not import the web layer.

const CODE_BY_STATUS: Record<number, string> = {
  400: 'bad_request',
  401: 'unauthorized',
  403: 'forbidden',
  404: 'not_found',
  409: 'conflict',
  413: 'too_large',
  422: 'unprocessable',
  429: 'too_many_requests',
  503: 'unavailable',
  504: 'timeout',
};

/** An error with the HTTP status it maps to, a stable machine-readable code, and a message meant for the caller. */
export class ApiError extends Error {
  override name = 'ApiError';
  readonly status: number;
  readonly code: string;
  /** `cause`: the upstream error, for the log only — its text never reaches the caller. */
  constructor(status: number, message: string, code?: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.status = status;
    this.code = code ?? CODE_BY_STATUS[status] ?? 'error';
  }
  /** fastify reads `statusCode` when an error reaches its own handler. */
  get statusCode(): number {
    return this.status;
  }
}

export const codeForStatus = (status: number): string => CODE_BY_STATUS[status] ?? (status >= 500 ? 'internal_error' : 'error');

export const badRequest = (message: string, code?: string) => new ApiError(400, message, code);
export const forbidden = (message: string, code?: string) => new ApiError(403, message, code);
export const notFound = (message: string, code?: string) => new ApiError(404, message, code);
export const conflict = (message: string, code?: string) => new ApiError(409, message, code);
export const unavailable = (message: string, cause?: unknown) => new ApiError(503, message, undefined, cause);
