import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { CodedError } from '../../../lib/errors.ts';
import { bearer, errors } from '../schemas.ts';
import { ROLES } from '../tokens.ts';
import { MIN_PASSWORD, type UserStore } from '../users.ts';

const RoleT = Type.Union(ROLES.map((r) => Type.Literal(r)));
const User = Type.Object({ id: Type.Integer(), name: Type.String(), role: RoleT, created: Type.Integer(), updated: Type.Integer() });
const AddBody = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }), role: RoleT, password: Type.Optional(Type.String({ minLength: MIN_PASSWORD, maxLength: 1024 })) }, { additionalProperties: false });
const PatchBody = Type.Object({ role: Type.Optional(RoleT), password: Type.Optional(Type.Union([Type.String({ minLength: MIN_PASSWORD, maxLength: 1024 }), Type.Null()])) }, { additionalProperties: false });
const NameParam = Type.Object({ name: Type.String({ minLength: 1, maxLength: 64 }) });

/** People who sign in to the console (admin): add, list, change role or password, remove. */
export function userRoutes(users: UserStore) {
  return async (app: FastifyInstance): Promise<void> => {
    app.get('/api/v1/users', { config: { role: 'admin' }, schema: { tags: ['console'], summary: 'console users (no password hashes)', security: bearer, response: { 200: Type.Array(User), ...errors } } },
      async () => users.list());

    app.get('/api/v1/users/assignable', { config: { role: 'env' }, schema: { tags: ['console'], summary: 'people an alert can be assigned to (environmental staff and above)', security: bearer, response: { 200: Type.Array(Type.Object({ name: Type.String(), role: RoleT })), ...errors } } },
      async () => users.list().filter((u) => u.role !== 'viewer').map((u) => ({ name: u.name, role: u.role })));

    app.post<{ Body: Static<typeof AddBody> }>('/api/v1/users', {
      config: { role: 'admin' },
      schema: { tags: ['console'], summary: 'add a console user; without a password one is generated and returned once', security: bearer, body: AddBody, response: { 201: Type.Object({ user: User, password: Type.String() }), ...errors } },
    }, async (req, reply) => reply.code(201).send(await users.add(req.body.name, req.body.role, req.body.password)));

    app.patch<{ Params: Static<typeof NameParam>; Body: Static<typeof PatchBody> }>('/api/v1/users/:name', {
      config: { role: 'admin' },
      schema: { tags: ['console'], summary: 'change a user\'s role and/or password (password null: generate one, returned once); a new password ends their sessions', security: bearer, params: NameParam, body: PatchBody, response: { 200: Type.Object({ user: User, password: Type.Optional(Type.String()) }), ...errors } },
    }, async (req) => {
      if (!users.get(req.params.name)) throw new CodedError('USER_NOT_FOUND', `no user ${req.params.name}`, { status: 404 });
      if (req.body.role) users.setRole(req.params.name, req.body.role);
      const password = req.body.password !== undefined ? await users.setPassword(req.params.name, req.body.password ?? undefined) : undefined;
      return { user: users.get(req.params.name)!, ...(password !== undefined ? { password } : {}) };
    });

    app.delete<{ Params: Static<typeof NameParam> }>('/api/v1/users/:name', {
      config: { role: 'admin' },
      schema: { tags: ['console'], summary: 'remove a console user (their sessions end)', security: bearer, params: NameParam, response: { 200: Type.Object({ removed: Type.Boolean() }), ...errors } },
    }, async (req) => ({ removed: users.remove(req.params.name) }));
  };
}
