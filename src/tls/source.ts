import { readFileSync, unwatchFile, watchFile } from "node:fs";
import { createSecureContext, type SecureContextOptions } from "node:tls";
import type { Logger } from "../log.js";

/**
 * TLS settings of every listener (gRPC, HTTP, console). TLS 1.2 and 1.3 only;
 * for TLS 1.2 the ECDHE + AEAD suites of Mozilla's "intermediate" profile
 * (forward secrecy, no CBC, no RSA key exchange); TLS 1.3 uses OpenSSL's
 * defaults (AES-GCM, ChaCha20-Poly1305), which are all AEAD.
 */
export const TLS_MIN_VERSION = "TLSv1.2" as const;
export const TLS12_CIPHERS = [
  "ECDHE-ECDSA-AES128-GCM-SHA256",
  "ECDHE-RSA-AES128-GCM-SHA256",
  "ECDHE-ECDSA-AES256-GCM-SHA384",
  "ECDHE-RSA-AES256-GCM-SHA384",
  "ECDHE-ECDSA-CHACHA20-POLY1305",
  "ECDHE-RSA-CHACHA20-POLY1305",
].join(":");

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  /** CA bundle client certificates are verified against (RFC 8705 §2.1); empty: client certificates are not requested. */
  clientCaFile: string;
}

/**
 * The listeners' key, certificate chain and client CA from PEM files,
 * re-read when a file changes (stat polled every `reloadIntervalMs`:
 * certificate rotation by cert-manager, Vault or a cron job needs no
 * restart). A change that does not load (half-written file, key not matching
 * the certificate) is logged and the last good context stays in use.
 * New connections get the current certificate; open ones keep theirs.
 */
export interface TlsSource {
  /** Whether client certificates are requested (a client CA is configured). */
  readonly requestClientCertificates: boolean;
  /** The current key, certificates and protocol settings (tls.Server / https.Server options and setSecureContext). */
  options(): SecureContextOptions;
  /** The client CA certificates, PEM, for chain checks of forwarded certificates; empty without one. */
  clientCa(): string;
  /** Called after each successful reload. */
  onReload(listener: () => void): void;
  close(): void;
}

export class TlsConfigError extends Error {
  override name = "TlsConfigError";
}

export function loadTls(files: TlsFiles, reloadIntervalMs: number, logger: Logger): TlsSource {
  let current = read(files);
  const listeners = new Set<() => void>();
  const paths = [files.certFile, files.keyFile, files.clientCaFile].filter(Boolean);
  const reload = () => {
    try {
      current = read(files);
    } catch (err) {
      logger.error("TLS files changed but do not load; keeping the previous certificate", { error: (err as Error).message });
      return;
    }
    logger.info("TLS certificate reloaded", { certFile: files.certFile });
    for (const l of listeners) l();
  };
  for (const p of paths) watchFile(p, { interval: reloadIntervalMs, persistent: false }, (now, before) => {
    if (now.mtimeMs !== before.mtimeMs || now.size !== before.size || now.ino !== before.ino) reload();
  });
  return {
    requestClientCertificates: files.clientCaFile !== "",
    options: () => current.options,
    clientCa: () => current.clientCa,
    onReload: (l) => void listeners.add(l),
    close: () => {
      for (const p of paths) unwatchFile(p);
      listeners.clear();
    },
  };
}

function read(files: TlsFiles): { options: SecureContextOptions; clientCa: string } {
  const file = (path: string, what: string) => {
    try {
      return readFileSync(path, "utf8");
    } catch (err) {
      throw new TlsConfigError(`cannot read the TLS ${what} ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
  };
  const clientCa = files.clientCaFile ? file(files.clientCaFile, "client CA") : "";
  // Only a client CA (TLS ends at a proxy that forwards client certificates): nothing for listeners.
  if (!files.certFile) return { options: {}, clientCa };
  const options: SecureContextOptions = {
    cert: file(files.certFile, "certificate"),
    key: file(files.keyFile, "key"),
    ...(clientCa ? { ca: clientCa } : {}),
    minVersion: TLS_MIN_VERSION,
    ciphers: TLS12_CIPHERS,
  };
  try {
    createSecureContext(options); // loads now, so a bad pair fails here rather than at the first handshake
    return { options, clientCa };
  } catch (err) {
    // e.g. "key values mismatch": OpenSSL's words name the problem, never the key.
    throw new TlsConfigError(`the TLS certificate and key do not load: ${(err as Error).message}`);
  }
}
