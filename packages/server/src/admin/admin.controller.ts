import {
  Body,
  Controller,
  Delete,
  Get,
  HttpCode,
  HttpException,
  HttpStatus,
  Inject,
  Param,
  Post,
  UseGuards,
} from '@nestjs/common';
import { ApiBearerAuth, ApiBody, ApiOperation, ApiResponse, ApiTags } from '@nestjs/swagger';
import { ErrorCode, type PeerConnectionState } from '@switchboard/protocol';
import { z } from 'zod';
import { PeerConnectionTrackerService } from '../webrtc/services/peer-connection-tracker.service';
import { PeerSessionService } from '../webrtc/services/peer-session.service';
import { RoomRegistryService } from '../webrtc/services/room-registry.service';
import { SignalingService } from '../webrtc/signaling.service';
import { AdminGuard } from './admin.guard';

/** Largest `payload` of a server message, as JSON. */
export const MAX_SERVER_MESSAGE_BYTES = 4096;

const messageBody = z.strictObject({
  to: z.string().min(1).max(64).optional(),
  payload: z.unknown().refine((p) => p !== undefined, 'payload is required'),
});

export interface AdminRoomSummary {
  roomId: string;
  /** When the room's first peer joined (Unix ms). */
  createdAt: number;
  peers: number;
}

export interface AdminPeer {
  peerId: string;
  userId?: string;
  displayName: string;
  metadata?: Record<string, unknown>;
  joinedAt: number;
  /** `resuming`: its connection dropped and it may still come back (within RESUME_WINDOW_MS). */
  status: 'online' | 'resuming';
  /** Its last reported `connectionState` towards each other peer (absent: never reported). */
  links: { peerId: string; connectionState?: PeerConnectionState }[];
}

function notFound(message: string): HttpException {
  return new HttpException({ error: { code: ErrorCode.PEER_NOT_FOUND, message } }, HttpStatus.NOT_FOUND);
}

/**
 * The operator API: what is happening in rooms, and acting on it. Every route needs an admin bearer
 * ({@link AdminGuard}); with Redis, any instance answers for rooms on any instance.
 */
@ApiTags('admin')
@ApiBearerAuth()
@ApiResponse({ status: 401, description: 'No admin bearer (ADMIN_API_TOKEN, or a JWT with admin: true)' })
@ApiResponse({ status: 403, description: 'A valid token without admin: true' })
@ApiResponse({
  status: 404,
  description: 'Admin API off (neither ADMIN_API_TOKEN nor authentication), or no such room/peer',
})
@Controller('admin')
@UseGuards(AdminGuard)
export class AdminController {
  constructor(
    @Inject(RoomRegistryService) private readonly rooms: RoomRegistryService,
    @Inject(PeerSessionService) private readonly sessions: PeerSessionService,
    @Inject(PeerConnectionTrackerService) private readonly tracker: PeerConnectionTrackerService,
    @Inject(SignalingService) private readonly core: SignalingService,
  ) {}

  /** Every room with peers in it. */
  @Get('rooms')
  @ApiOperation({ summary: 'Rooms with at least one peer' })
  @ApiResponse({ status: 200, description: '{ rooms: [{ roomId, createdAt, peers }] }' })
  async listRooms(): Promise<{ rooms: AdminRoomSummary[] }> {
    const rooms: AdminRoomSummary[] = [];
    for (const { roomId, createdAt } of await this.rooms.rooms()) {
      const peers = (await this.rooms.peerIds(roomId)).length;
      if (peers > 0) rooms.push({ roomId, createdAt, peers });
    }
    return { rooms };
  }

  /** One room's peers, their state and their links' last reported states. */
  @Get('rooms/:roomId')
  @ApiOperation({ summary: "A room's peers, their status and their links' last reported states" })
  @ApiResponse({ status: 200, description: '{ roomId, createdAt, peers: AdminPeer[] }' })
  async getRoom(
    @Param('roomId') roomId: string,
  ): Promise<{ roomId: string; createdAt: number; peers: AdminPeer[] }> {
    const members = await this.rooms.peers(roomId);
    const createdAt = await this.rooms.createdAt(roomId);
    if (members.length === 0 || createdAt === undefined) throw notFound(`room ${roomId} has no peers`);
    const peers: AdminPeer[] = [];
    for (const p of members) {
      const links = [];
      for (const other of members) {
        if (other.peerId === p.peerId) continue;
        const connectionState = await this.tracker.lastState(roomId, p.peerId, other.peerId);
        links.push({ peerId: other.peerId, ...(connectionState ? { connectionState } : {}) });
      }
      peers.push({
        peerId: p.peerId,
        ...(p.userId ? { userId: p.userId } : {}),
        displayName: p.displayName,
        ...(p.metadata ? { metadata: p.metadata } : {}),
        joinedAt: p.joinedAt,
        status: (await this.sessions.isOnline(p.peerId)) ? 'online' : 'resuming',
        links,
      });
    }
    return { roomId, createdAt, peers };
  }

  /** Removes a peer for good: told `REMOVED` and disconnected; the others see `peerLeft` `removed`. */
  @Delete('rooms/:roomId/peers/:peerId')
  @ApiOperation({ summary: 'Remove a peer for good (REMOVED; the others see peerLeft removed)' })
  @ApiResponse({ status: 204, description: 'Removed' })
  @HttpCode(HttpStatus.NO_CONTENT)
  async removePeer(@Param('roomId') roomId: string, @Param('peerId') peerId: string): Promise<void> {
    if (!(await this.core.removeByOperator(roomId, peerId)))
      throw notFound(`peer ${peerId} is not in room ${roomId}`);
  }

  /** Closes the room for everyone (`roomClosed`, then each leaves it). */
  @Delete('rooms/:roomId')
  @ApiOperation({ summary: 'Close the room for everyone (roomClosed)' })
  @ApiResponse({ status: 204, description: 'Closed' })
  @HttpCode(HttpStatus.NO_CONTENT)
  async closeRoom(@Param('roomId') roomId: string): Promise<void> {
    if ((await this.core.closeRoom(roomId)) === 0) throw notFound(`room ${roomId} has no peers`);
  }

  /** Sends `serverMessage { roomId, payload }` to the room, or with `to` to one of its peers. */
  @Post('rooms/:roomId/messages')
  @ApiOperation({ summary: 'Send serverMessage to the room, or to one of its peers' })
  @ApiBody({
    schema: {
      type: 'object',
      required: ['payload'],
      additionalProperties: false,
      properties: { payload: { description: 'Any JSON, at most 4 KiB' }, to: { type: 'string' } },
    },
  })
  @ApiResponse({ status: 202, description: '{ ok: true }' })
  @ApiResponse({ status: 400, description: 'VALIDATION_FAILED' })
  @ApiResponse({ status: 413, description: 'PAYLOAD_TOO_LARGE' })
  @HttpCode(HttpStatus.ACCEPTED)
  async sendMessage(@Param('roomId') roomId: string, @Body() body: unknown): Promise<{ ok: true }> {
    const parsed = messageBody.safeParse(body);
    if (!parsed.success)
      throw new HttpException(
        {
          error: {
            code: ErrorCode.VALIDATION_FAILED,
            message: parsed.error.issues[0]?.message ?? 'invalid body',
          },
        },
        HttpStatus.BAD_REQUEST,
      );
    const size = Buffer.byteLength(JSON.stringify(parsed.data.payload));
    if (size > MAX_SERVER_MESSAGE_BYTES)
      throw new HttpException(
        {
          error: {
            code: ErrorCode.PAYLOAD_TOO_LARGE,
            message: `payload is ${size} bytes as JSON; the most is ${MAX_SERVER_MESSAGE_BYTES}`,
          },
        },
        HttpStatus.PAYLOAD_TOO_LARGE,
      );
    if (!(await this.core.messageRoom(roomId, parsed.data.payload, parsed.data.to)))
      throw notFound(
        parsed.data.to ? `peer ${parsed.data.to} is not in room ${roomId}` : `room ${roomId} has no peers`,
      );
    return { ok: true };
  }
}
