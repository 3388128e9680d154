import type { NextFunction, Request, RequestHandler, Response } from 'express';
import { text } from 'express';
import { parseJsonKeepingNumbersAsText } from '../common/lossless-json';

/**
 * Parses JSON request bodies losslessly (64-bit ids sent as JSON numbers keep every digit), in
 * place of express.json, and answers malformed, oversized or non-JSON bodies with a JSON 400 / 413 / 415.
 */
export function losslessJsonBody(limitBytes: number): RequestHandler {
  const readText = text({ type: ['application/json', 'application/*+json'], limit: limitBytes });
  return (req: Request, res: Response, next: NextFunction) => {
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && !/^application\/([\w.+-]+\+)?json\b/i.test(req.headers['content-type'] ?? '')) {
      res.status(415).json({
        statusCode: 415,
        error: 'Unsupported Media Type',
        message: `request body must be JSON sent with Content-Type: application/json (got ${req.headers['content-type'] ?? 'no Content-Type'})`,
        field: 'body',
      });
      return;
    }
    readText(req, res, (error?: unknown) => {
      if (error) {
        const status = (error as { status?: number }).status === 413 ? 413 : 400;
        const message = status === 413 ? `request body exceeds ${limitBytes} bytes` : `request body could not be read: ${(error as Error).message}`;
        res.status(status).json({ statusCode: status, error: status === 413 ? 'Payload Too Large' : 'Bad Request', message, field: 'body' });
        return;
      }
      if (typeof req.body === 'string') {
        if (req.body.trim() === '') {
          req.body = undefined;
        } else {
          try {
            req.body = parseJsonKeepingNumbersAsText(req.body);
          } catch (e) {
            res.status(400).json({ statusCode: 400, error: 'Bad Request', message: `request body is not valid JSON: ${(e as Error).message}`, field: 'body' });
            return;
          }
        }
      }
      next();
    });
  };
}
