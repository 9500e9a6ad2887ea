// Wire shape of a remote viewer session (spec §3.12): server and UI share it.

/** camelCase remote viewer session of spec §3.12. */
export interface RemoteSession {
  sessionId: string;
  host: string;
  sshPort: number;
  username: string;
  localPort: number;
  remotePort: number;
  remoteRoot: string;
  remotePid: number;
  status: string;
  startedAt: number;
  uptimeSeconds: number;
  isActive: boolean;
  url: string;
  /** Additions of ours: the SSH host (`host` is the remote bind address, as in the original) and the pool key. */
  sshHost?: string;
  connectionId?: string;
  viewerKind?: string;
  /** The Remote page's fleet host this session serves (stopped and restarted by the fleet), else null. */
  fleetHost?: string | null;
}
