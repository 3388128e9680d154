import { STATUS_CODES } from 'node:http';

/** The one JSON error shape of the HTTP API: {"statusCode":400,"error":"Bad Request","message":"…","field":"userIds"}. */
export interface ErrorBody {
  statusCode: number;
  error: string;
  message: string;
  /** 400 only: the request field at fault. */
  field?: string;
}

export function errorBody(statusCode: number, message: string, field?: string): ErrorBody {
  return { statusCode, error: STATUS_CODES[statusCode] ?? 'Error', message, ...(field !== undefined ? { field } : {}) };
}
