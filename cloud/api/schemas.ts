import { Type } from '@sinclair/typebox';

export const ErrorReply = Type.Object({ code: Type.String(), message: Type.String() }, { $id: 'ErrorReply' });
export const errors = { 400: ErrorReply, 401: ErrorReply, 403: ErrorReply, 404: ErrorReply, 409: ErrorReply, 503: ErrorReply };
export const bearer = [{ bearer: [] as string[] }];
