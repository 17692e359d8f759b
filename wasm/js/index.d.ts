// Type definitions for waxseal (the npm package).

/** A message: bytes, or a string (encoded as UTF-8). */
export type Message = Uint8Array | ArrayBuffer | ArrayBufferView | string;

/** Stable error codes of WaxsealError. */
export type ErrorCode =
  | 'ERR_MALFORMED_MESSAGE'
  | 'ERR_HEADER_TOO_LARGE'
  | 'ERR_MISSING_FROM'
  | 'ERR_SEVERAL_FROM'
  | 'ERR_SYNTAX'
  | 'ERR_INVALID_DOMAIN'
  | 'ERR_INVALID_SELECTOR'
  | 'ERR_INVALID_IDENTITY'
  | 'ERR_INVALID_HEADER_NAME'
  | 'ERR_UNSUPPORTED'
  | 'ERR_INVALID_OPTION'
  | 'ERR_KEY_TYPE_MISMATCH'
  | 'ERR_INVALID_KEY'
  | 'ERR_KEY_SIZE'
  | 'ERR_KEY_GENERATION'
  | 'ERR_CRYPTO'
  | 'ERR_STATE'
  | 'ERR_STREAM'
  | 'ERR_INTERNAL';

/** Every error waxseal throws or rejects with. */
export class WaxsealError extends Error {
  readonly name: 'WaxsealError';
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown });
}

export type KeyAlgorithm = 'rsa' | 'ed25519';

export interface KeyPair {
  /** PKCS#8 PEM ("-----BEGIN PRIVATE KEY-----"). Keep it secret. */
  privateKey: string;
  /** The public key as published in DNS: base64 `p=` data. */
  publicKey: string;
  algorithm: KeyAlgorithm;
  /** RSA modulus size, or 256 for Ed25519. */
  bits: number;
}

export interface GenerateKeyOptions {
  /** Default 'rsa' for generateKey, 'ed25519' for generateKeySync. */
  algorithm?: KeyAlgorithm;
  /** RSA key size, 1024 to 4096. Default 2048. */
  bits?: number;
}

/** Generates a key pair (RSA on WebCrypto when available). */
export function generateKey(options?: GenerateKeyOptions): Promise<KeyPair>;
/** Generates an Ed25519 key pair in WebAssembly (RSA: use generateKey, WebCrypto). */
export function generateKeySync(options?: GenerateKeyOptions): KeyPair;

export interface DnsRecordOptions {
  selector: string;
  domain: string;
  /** t=y: test mode. Default false. */
  testing?: boolean;
  /** t=s: i= must equal d=. Default false. */
  strict?: boolean;
  /** n=: notes for humans, any text (written quoted-printable, RFC 6376 3.6.1). */
  notes?: string;
  /** The key type when `key` is base64 `p=` data. Default 'rsa'. */
  keyType?: KeyAlgorithm;
}

export interface DnsRecord {
  /** `<selector>._domainkey.<domain>` */
  name: string;
  /** The TXT value as one string, e.g. for DNS provider web forms. */
  value: string;
  /** The value split into strings of at most 255 bytes. */
  strings: string[];
  /** A zone-file line (BIND syntax). */
  zoneLine: string;
  /** Publishing instructions (dns_readme.txt). */
  readme: string;
}

/** The TXT record to publish for a key. */
export function dnsRecord(
  key: KeyPair | { publicKey: string; algorithm?: KeyAlgorithm } | string | Uint8Array | ArrayBuffer | ArrayBufferView,
  options: DnsRecordOptions,
): DnsRecord;

export type Canonicalization =
  | 'simple/simple'
  | 'simple/relaxed'
  | 'relaxed/simple'
  | 'relaxed/relaxed'
  | 'simple'
  | 'relaxed';

export interface SignOptions {
  /** d= */
  domain: string;
  /** s= */
  selector: string;
  /** A PEM private key (PKCS#1 or PKCS#8; RSA or Ed25519) or a KeyPair. */
  privateKey: string | KeyPair;
  /** i=, the agent or user identifier; must be within `domain`. */
  identity?: string;
  /** Header fields to sign (each occurrence). Default: From, Reply-To, Subject, Date, To, Cc, the Resent-*, In-Reply-To, References, List-*, Message-ID, MIME-Version, Content-Type, Content-Transfer-Encoding. */
  headers?: string[];
  /** Header fields listed once more than present, so added copies break the signature. Default: From, To, Subject, Date, Cc, Reply-To, MIME-Version, Content-Type, Content-Transfer-Encoding (none when `headers` is given). */
  oversign?: string[];
  /** c=. Default 'relaxed/relaxed'. */
  canonicalization?: Canonicalization;
  /** t= in seconds since 1970. Default: now; `false` for no t=. */
  timestamp?: number | false;
  /** x= = t= + expiresIn seconds. */
  expiresIn?: number;
  /** x= in seconds since 1970. */
  expiration?: number;
  /** Write l= (lets anyone append to the body; avoid). Default false. */
  bodyLength?: boolean;
  /** Write z= copies of the signed header fields. Default false. */
  copyHeaders?: boolean;
}

/** Signs; resolves to the DKIM-Signature header field(s) (CRLF line breaks, LF for LF messages). */
export function sign(message: Message, options: SignOptions | SignOptions[]): Promise<string>;
/** Signs in WebAssembly, synchronously. */
export function signSync(message: Message, options: SignOptions | SignOptions[]): string;
/** Signs and returns the message with the signature(s) prepended, as a string for a string message. */
export function signMessage(message: string, options: SignOptions | SignOptions[]): Promise<string>;
export function signMessage(message: Uint8Array | ArrayBuffer | ArrayBufferView, options: SignOptions | SignOptions[]): Promise<Uint8Array>;
export function signMessageSync(message: string, options: SignOptions | SignOptions[]): string;
export function signMessageSync(message: Uint8Array | ArrayBuffer | ArrayBufferView, options: SignOptions | SignOptions[]): Uint8Array;

/** Streaming signer. */
export class Signer {
  constructor(options: SignOptions | SignOptions[]);
  update(chunk: Message): this;
  /** Signs on WebCrypto (WebAssembly where it cannot). */
  finish(): Promise<string>;
  finishSync(): string;
}

export interface VerifyPolicy {
  /** RSA keys below this many bits give `policy`. Default 1024 (RFC 8301). */
  minRsaBits?: number;
  /** Accept rsa-sha1. Default false (RFC 8301). */
  allowRsaSha1?: boolean;
  /** Accept l= signatures that leave part of the body unsigned. Default false. */
  allowUnsignedBodyTail?: boolean;
  /** Accept signatures whose h= lacks From. Default false. */
  allowUnsignedFrom?: boolean;
  /** Accept a message without exactly one From field (else its valid signatures get `policy`, `from_count`). Default false. */
  allowFromCount?: boolean;
  /** Do not check x=. Default false. */
  ignoreExpiration?: boolean;
  /** Allowed t= in the future, seconds. Default 300. */
  clockSkew?: number;
  /** Signatures checked per message (the From domain's first, then its parent domains', then the others, from the top); the rest are one `neutral` result. Default 8. */
  maxSignatures?: number;
  /** Largest header block checked, bytes; a larger one gets one `permerror` result (`header_too_large`). Default 1048576. */
  maxHeaderBytes?: number;
}

export interface VerifyOptions {
  /** DNS TXT lookup: resolves to records, each an array of strings (as dns.promises.resolveTxt). */
  resolveTxt: (name: string) => Promise<(string | Uint8Array)[][] | null> | (string | Uint8Array)[][] | null;
  /** Verification time, seconds since 1970 (a non-negative integer). Default: now. */
  now?: number;
  /** Milliseconds one resolveTxt call may take; then that lookup is a temporary failure (`temperror`). Default 5000 (DEFAULT_LOOKUP_TIMEOUT). */
  lookupTimeout?: number;
  policy?: VerifyPolicy;
  /** The authserv-id of Authentication-Results. Default 'localhost'. */
  authservId?: string;
  /** Also look up the From domain's _dmarc and _policy._domainkey records (information only). Default false. */
  lookupPolicies?: boolean;
  /** Keep what each signature was checked against (true: up to 1 MiB of canonicalized body; or a byte count). Default false. */
  diagnostics?: boolean | number;
}

/** What a signature was checked against (with the `diagnostics` option). */
export interface Diagnostics {
  /** The header hash input (RFC 6376 3.7): the signed fields and the signature field without its b= value, canonicalized. */
  canonicalHeaders: Uint8Array;
  /** The canonicalized body (l= not applied), up to the limit. */
  canonicalBody: Uint8Array;
  /** The body was longer than the limit. */
  bodyTruncated: boolean;
  /** The body hash computed here, base64 (compare with bodyHash, the signature's bh=). */
  computedBodyHash: string;
}

export type DkimResult = 'pass' | 'fail' | 'neutral' | 'policy' | 'temperror' | 'permerror';

export type ReasonCode =
  | 'signature_syntax' | 'from_not_signed' | 'unsupported_query_method' | 'body_length_too_large'
  | 'key_not_found' | 'key_unavailable' | 'key_syntax' | 'key_revoked' | 'key_algorithm_mismatch'
  | 'hash_not_allowed' | 'service_not_email' | 'strict_identity_mismatch' | 'body_hash_mismatch'
  | 'bad_signature' | 'weak_algorithm' | 'key_too_small' | 'partial_body' | 'expired'
  | 'future_timestamp' | 'too_many_signatures' | 'header_too_large' | 'from_count';

export interface SignatureResult {
  result: DkimResult;
  /** Why it is not `pass`, in words. */
  reason?: string;
  reasonCode?: ReasonCode;
  domain?: string;
  selector?: string;
  algorithm?: string;
  identity?: string;
  /** The key record has t=y. */
  testing: boolean;
  keyBits?: number;
  /** Canonicalized body bytes not covered by l=. */
  unsignedBodyBytes: number;
  /** One line, e.g. "fail d=example.com s=sel a=rsa-sha256 (body hash mismatch)". */
  summary: string;
  /** h= (when the signature parsed). */
  signedHeaders?: string[];
  /** c=, e.g. "relaxed/relaxed" (when the signature parsed). */
  canonicalization?: string;
  /** bh=, base64 (when the signature parsed). */
  bodyHash?: string;
  /** With the `diagnostics` option. */
  diagnostics?: Diagnostics;
}

export interface VerifyReport {
  /** One per DKIM-Signature, top first; empty when unsigned (dkim=none). */
  results: SignatureResult[];
  /** The Authentication-Results value (RFC 8601). */
  authenticationResults: string;
  /** The whole Authentication-Results field, folded, with CRLF. */
  authenticationResultsField: string;
  fromDomain?: string;
  dmarc?: string;
  legacyPolicy?: string;
}

/**
 * A message read as a stream, chunk by chunk: a ReadableStream (a fetch
 * body, Cloudflare's `message.raw`) or an async iterable of chunks (a Node
 * stream).
 */
export type MessageStream = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array | string>;

/**
 * Verifies every DKIM signature of a message, given whole or as a stream
 * (the key lookups start once the header block is in; the body is not
 * held). A stream that fails rejects with ERR_STREAM.
 */
export function verify(message: Message | MessageStream, options: VerifyOptions): Promise<VerifyReport>;

/** The default `lookupTimeout` of `verify`, in milliseconds. */
export const DEFAULT_LOOKUP_TIMEOUT: number;
