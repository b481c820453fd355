import type { INestApplication } from '@nestjs/common';
import { DocumentBuilder, SwaggerModule, type OpenAPIObject } from '@nestjs/swagger';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';

/** The server package's version (from dist/src, its package.json is two levels up). */
export const SERVER_VERSION = (
  JSON.parse(readFileSync(resolve(__dirname, '../../package.json'), 'utf8')) as { version: string }
).version;

/** Where the OpenAPI description is served. */
export const OPENAPI_PATH = '/openapi.json';

/**
 * The OpenAPI 3 description of every HTTP endpoint (public and admin), generated from the
 * controllers' decorators by `@nestjs/swagger`; the Socket.IO protocol is docs/protocol.md.
 */
export function openApiDocument(app: INestApplication, version: string): OpenAPIObject {
  const config = new DocumentBuilder()
    .setTitle('Switchboard')
    .setDescription(
      'WebRTC signaling server: HTTP endpoints. The signaling itself is Socket.IO on the /webrtc namespace (docs/protocol.md).',
    )
    .setVersion(version)
    .addBearerAuth()
    .build();
  return SwaggerModule.createDocument(app, config);
}
