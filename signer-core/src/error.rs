//! The one error type of `waxseal-core`.
//!
//! Errors carry positions and static tag names, never `String`s, so they are
//! cheap, `no_std` friendly and stable to match on. A *failed verification*
//! is not an error: it is a result (see the verifier); this type is for input
//! that cannot be processed and for misuse of the API.

use core::fmt;

/// Everything that can go wrong in `waxseal-core`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    // ---- messages -------------------------------------------------------
    /// A line in the header block is neither a `name: value` field nor a
    /// continuation line (RFC 5322 2.2). `offset` is the byte offset of the
    /// line in the message.
    MalformedHeaderField {
        /// Byte offset of the offending line.
        offset: usize,
        /// Its line number, from 1.
        line: usize,
    },
    /// The private key is encrypted (PKCS#8 `ENCRYPTED PRIVATE KEY`);
    /// waxseal takes unencrypted keys only.
    EncryptedPrivateKey,
    /// The private key is of a type DKIM cannot sign with (EC, DSA): RFC
    /// 6376 and RFC 8463 define RSA and Ed25519.
    UnsupportedPrivateKeyType,
    /// A public key was given where the private key is needed (a
    /// `PUBLIC KEY` PEM or a DER SubjectPublicKeyInfo).
    PublicKeyGiven,
    /// The message is empty (not a byte): there is nothing to sign or
    /// verify, and no From field.
    EmptyMessage,
    /// The message has CR line ends and not a single LF (an old Mac file):
    /// read as DKIM reads mail, it would be one header field and no body.
    CrLineEnds,
    /// The header block is larger than the configured limit.
    HeaderTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The message has no `From` header field; RFC 6376 5.4 requires it to
    /// be signed.
    MissingFrom,
    /// The message has more than one `From` header field (RFC 5322 3.6
    /// allows one): the signer refuses it, since a reader may be shown a
    /// From the signature does not vouch for (RFC 6376 8.15).
    SeveralFrom {
        /// How many.
        count: usize,
    },

    // ---- tag lists (RFC 6376 3.2) -----------------------------------------
    /// A tag list does not follow the RFC 6376 3.2 grammar.
    TagListSyntax {
        /// Byte offset in the tag list where parsing stopped.
        offset: usize,
    },
    /// The same tag name appears twice (RFC 6376 3.2: "Tags with duplicate
    /// names MUST NOT occur").
    DuplicateTag {
        /// Byte offset of the second occurrence.
        offset: usize,
    },
    /// A required tag is missing.
    MissingTag(&'static str),
    /// A tag's value is not valid for that tag.
    InvalidTagValue(&'static str),

    // ---- names -----------------------------------------------------------
    /// Not a valid domain name (d=, or a domain given by the caller).
    InvalidDomain,
    /// Not a valid selector (s=): a dot-separated list of labels.
    InvalidSelector,
    /// Not a valid agent or user identifier (i=).
    InvalidIdentity,
    /// The i= domain is neither the d= domain nor a subdomain of it
    /// (RFC 6376 3.5, i= tag).
    IdentityNotInDomain,
    /// Not a valid header field name (RFC 5322 `field-name`).
    InvalidHeaderName,

    // ---- signatures ------------------------------------------------------
    /// The signature's `v=` is not `1`.
    UnsupportedVersion,
    /// The `a=` algorithm is not one waxseal knows, or may not be used here
    /// (rsa-sha1 is never used for signing, RFC 8301).
    UnsupportedAlgorithm,
    /// The `c=` value is not a known canonicalization.
    UnsupportedCanonicalization,
    /// `x=` is not later than `t=` (RFC 6376 3.5, x= tag).
    ExpirationBeforeTimestamp,
    /// The signing key does not fit the requested algorithm.
    KeyTypeMismatch,

    // ---- keys and records ---------------------------------------------------
    /// Base64 data is malformed.
    InvalidBase64,
    /// A private key could not be decoded (PEM, PKCS#1, PKCS#8, raw seed).
    InvalidPrivateKey,
    /// A public key could not be decoded.
    InvalidPublicKey,
    /// The RSA key size is outside what is allowed here.
    UnsupportedKeySize {
        /// The modulus size of the key in bits.
        bits: usize,
    },
    /// Key generation failed (the random number generator failed).
    KeyGeneration,
    /// The `k=` key type of a DNS key record is not known.
    UnsupportedKeyType,
    /// A DNS key record's `v=` is not `DKIM1` or not the first tag
    /// (RFC 6376 3.6.1).
    InvalidRecordVersion,
    /// A policy or DMARC record is malformed.
    InvalidPolicyRecord,

    // ---- crypto --------------------------------------------------------------
    /// The private-key operation failed.
    SigningFailed,
    /// The digest given to a signing or verifying operation has the wrong
    /// length for its hash algorithm.
    InvalidDigestLength,
    /// A signature did not verify.
    BadSignature,

    // ---- API misuse --------------------------------------------------------
    /// A streaming object was used after `finish`, or `finish` was called
    /// twice.
    AlreadyFinished,
    /// A signer was created without any signature to make.
    NothingToSign,
}

/// The stable code of an [`Error`], the same on every face of waxseal:
/// the JavaScript `code` property (`ERR_MISSING_FROM`), the WIT
/// `error-code` enum (`missing-from`), the command line.
///
/// Design note: unlike [`Error`], this enum is not `#[non_exhaustive]`:
/// each face maps it with an exhaustive `match`, so a new code cannot
/// reach a face that has no name for it (it would not compile), where a
/// string table silently turned unknown codes into `syntax`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorCode {
    /// Not a mail message (a malformed header block, CR-only line ends).
    MalformedMessage,
    /// The header block is larger than the limit.
    HeaderTooLarge,
    /// No From field to sign.
    MissingFrom,
    /// Several From fields (not signed).
    SeveralFrom,
    /// A tag list, signature or record does not parse.
    Syntax,
    /// Not a valid domain name.
    InvalidDomain,
    /// Not a valid selector.
    InvalidSelector,
    /// Not a valid i=, or not under d=.
    InvalidIdentity,
    /// Not a valid header field name.
    InvalidHeaderName,
    /// A version, algorithm or canonicalization waxseal does not support.
    Unsupported,
    /// An option out of range.
    InvalidOption,
    /// A key of the wrong type for the algorithm.
    KeyTypeMismatch,
    /// A key that does not decode or cannot be used.
    InvalidKey,
    /// An RSA key size outside what is allowed.
    KeySize,
    /// Key generation failed.
    KeyGeneration,
    /// The crypto operation failed.
    Crypto,
    /// An object used in the wrong state (after finish).
    State,
}

impl ErrorCode {
    /// Every code, for faces that list them.
    pub const ALL: [ErrorCode; 17] = [
        ErrorCode::MalformedMessage,
        ErrorCode::HeaderTooLarge,
        ErrorCode::MissingFrom,
        ErrorCode::SeveralFrom,
        ErrorCode::Syntax,
        ErrorCode::InvalidDomain,
        ErrorCode::InvalidSelector,
        ErrorCode::InvalidIdentity,
        ErrorCode::InvalidHeaderName,
        ErrorCode::Unsupported,
        ErrorCode::InvalidOption,
        ErrorCode::KeyTypeMismatch,
        ErrorCode::InvalidKey,
        ErrorCode::KeySize,
        ErrorCode::KeyGeneration,
        ErrorCode::Crypto,
        ErrorCode::State,
    ];

    /// The code as text, e.g. `ERR_MISSING_FROM`.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorCode::MalformedMessage => "ERR_MALFORMED_MESSAGE",
            ErrorCode::HeaderTooLarge => "ERR_HEADER_TOO_LARGE",
            ErrorCode::MissingFrom => "ERR_MISSING_FROM",
            ErrorCode::SeveralFrom => "ERR_SEVERAL_FROM",
            ErrorCode::Syntax => "ERR_SYNTAX",
            ErrorCode::InvalidDomain => "ERR_INVALID_DOMAIN",
            ErrorCode::InvalidSelector => "ERR_INVALID_SELECTOR",
            ErrorCode::InvalidIdentity => "ERR_INVALID_IDENTITY",
            ErrorCode::InvalidHeaderName => "ERR_INVALID_HEADER_NAME",
            ErrorCode::Unsupported => "ERR_UNSUPPORTED",
            ErrorCode::InvalidOption => "ERR_INVALID_OPTION",
            ErrorCode::KeyTypeMismatch => "ERR_KEY_TYPE_MISMATCH",
            ErrorCode::InvalidKey => "ERR_INVALID_KEY",
            ErrorCode::KeySize => "ERR_KEY_SIZE",
            ErrorCode::KeyGeneration => "ERR_KEY_GENERATION",
            ErrorCode::Crypto => "ERR_CRYPTO",
            ErrorCode::State => "ERR_STATE",
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Error {
    /// The stable code of this error (see [`ErrorCode`]).
    pub fn kind(&self) -> ErrorCode {
        use ErrorCode as C;
        match self {
            Error::MalformedHeaderField { .. } | Error::CrLineEnds | Error::EmptyMessage => {
                C::MalformedMessage
            }
            Error::HeaderTooLarge { .. } => C::HeaderTooLarge,
            Error::MissingFrom => C::MissingFrom,
            Error::SeveralFrom { .. } => C::SeveralFrom,
            Error::TagListSyntax { .. }
            | Error::DuplicateTag { .. }
            | Error::MissingTag(_)
            | Error::InvalidTagValue(_)
            | Error::InvalidRecordVersion
            | Error::InvalidPolicyRecord => C::Syntax,
            Error::InvalidDomain => C::InvalidDomain,
            Error::InvalidSelector => C::InvalidSelector,
            Error::InvalidIdentity | Error::IdentityNotInDomain => C::InvalidIdentity,
            Error::InvalidHeaderName => C::InvalidHeaderName,
            Error::UnsupportedVersion
            | Error::UnsupportedAlgorithm
            | Error::UnsupportedCanonicalization => C::Unsupported,
            Error::ExpirationBeforeTimestamp => C::InvalidOption,
            Error::KeyTypeMismatch => C::KeyTypeMismatch,
            Error::InvalidBase64
            | Error::InvalidPrivateKey
            | Error::EncryptedPrivateKey
            | Error::UnsupportedPrivateKeyType
            | Error::PublicKeyGiven
            | Error::InvalidPublicKey
            | Error::UnsupportedKeyType => C::InvalidKey,
            Error::UnsupportedKeySize { .. } => C::KeySize,
            Error::KeyGeneration => C::KeyGeneration,
            Error::SigningFailed | Error::InvalidDigestLength | Error::BadSignature => C::Crypto,
            Error::AlreadyFinished | Error::NothingToSign => C::State,
        }
    }

    /// The stable code as text, e.g. `ERR_MISSING_FROM` (see
    /// [`ErrorCode`]).
    pub fn code(&self) -> &'static str {
        self.kind().as_str()
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::MalformedHeaderField { line, .. } => write!(
                f,
                "not a mail message: line {line} of the header is neither a `Name: value` field nor a continuation line"
            ),
            Error::EncryptedPrivateKey => f.write_str(
                "the private key is encrypted; waxseal needs it unencrypted (openssl pkey -in KEY -out PLAIN.pem, and keep that file mode 0600)",
            ),
            Error::UnsupportedPrivateKeyType => f.write_str(
                "this is an EC or DSA key; DKIM signs with RSA or Ed25519 (RFC 6376, RFC 8463): make one with waxseal keygen",
            ),
            Error::PublicKeyGiven => {
                f.write_str("this is a public key; signing needs the private key")
            }
            Error::EmptyMessage => f.write_str("the message is empty"),
            Error::CrLineEnds => f.write_str(
                "line ends are CR only (an old Mac file?); convert them to CRLF or LF",
            ),
            Error::HeaderTooLarge { limit } => {
                write!(f, "header block larger than the limit of {limit} bytes")
            }
            Error::MissingFrom => f.write_str("message has no From header field"),
            Error::SeveralFrom { count } => write!(
                f,
                "message has {count} From header fields; RFC 5322 allows one, and a message with several is not signed"
            ),
            Error::TagListSyntax { offset } => {
                write!(f, "tag list syntax error at byte {offset}")
            }
            Error::DuplicateTag { offset } => write!(f, "duplicate tag at byte {offset}"),
            Error::MissingTag(t) => write!(f, "required tag {t}= is missing"),
            Error::InvalidTagValue(t) => write!(f, "invalid value for tag {t}="),
            Error::InvalidDomain => f.write_str("invalid domain name"),
            Error::InvalidSelector => f.write_str("invalid selector"),
            Error::InvalidIdentity => f.write_str("invalid signing identity (i=)"),
            Error::IdentityNotInDomain => {
                f.write_str("the i= domain is not the d= domain or a subdomain of it")
            }
            Error::InvalidHeaderName => f.write_str("invalid header field name"),
            Error::UnsupportedVersion => f.write_str("unsupported DKIM-Signature version (v=)"),
            Error::UnsupportedAlgorithm => f.write_str("unsupported signing algorithm (a=)"),
            Error::UnsupportedCanonicalization => {
                f.write_str("unsupported canonicalization (c=)")
            }
            Error::ExpirationBeforeTimestamp => {
                f.write_str("expiration (x=) is not later than the timestamp (t=)")
            }
            Error::KeyTypeMismatch => f.write_str("key type does not match the algorithm"),
            Error::InvalidBase64 => f.write_str("malformed base64 data"),
            Error::InvalidPrivateKey => f.write_str(
                "cannot decode the private key (expected PKCS#1 or PKCS#8 PEM/DER, or a 32-byte Ed25519 seed)",
            ),
            Error::InvalidPublicKey => f.write_str("cannot decode the public key"),
            Error::UnsupportedKeySize { bits } => {
                write!(
                    f,
                    "RSA key size {bits} bits is not allowed here (waxseal signs with 1024 to 4096 bits, a multiple of 8; 2048 is the default)"
                )
            }
            Error::KeyGeneration => f.write_str("key generation failed"),
            Error::UnsupportedKeyType => f.write_str("unsupported key type (k=)"),
            Error::InvalidRecordVersion => {
                f.write_str("key record version must be v=DKIM1 and come first")
            }
            Error::InvalidPolicyRecord => f.write_str("malformed policy record"),
            Error::SigningFailed => f.write_str("the private-key operation failed"),
            Error::InvalidDigestLength => f.write_str("digest has the wrong length"),
            Error::BadSignature => f.write_str("signature does not verify"),
            Error::AlreadyFinished => f.write_str("already finished"),
            Error::NothingToSign => f.write_str("no signature requested"),
        }
    }
}

impl core::error::Error for Error {}
