internal import CCrypto

/// SHA-256, incremental: the key of every job's request (`RequestKey`) and the hash that
/// recognises a job file already submitted. OpenSSL's libcrypto computes it (libcurl loads it for
/// TLS anyway): with the CPU's SHA instructions it is ~10× a portable implementation, and a job's
/// request with a 5 KB system prompt was hashed for ~290,000 instructions in Swift (round 15).
///
/// A value: a copy goes on on its own (the context is copied on the first update after a copy),
/// and `finalize` leaves the hasher as it was.
public struct SHA256: Sendable {
    private var context: Context

    public init() { context = Context() }

    /// Feeds more message bytes.
    public mutating func update(_ bytes: UnsafeRawBufferPointer) {
        if !isKnownUniquelyReferenced(&context) { context = context.copy() }
        guard bytes.count > 0 else { return }
        Self.check(EVP_DigestUpdate(context.pointer, bytes.baseAddress, bytes.count), "EVP_DigestUpdate")
    }

    public mutating func update(_ bytes: some Sequence<UInt8>) {
        let array = Array(bytes)
        array.withUnsafeBytes { update($0) }
    }

    /// The 32-byte digest of everything fed so far.
    public func finalize() -> [UInt8] {
        let done = context.copy()
        return [UInt8](unsafeUninitializedCapacity: 32) { out, count in
            var length: UInt32 = 0
            Self.check(EVP_DigestFinal_ex(done.pointer, out.baseAddress, &length), "EVP_DigestFinal_ex")
            precondition(length == 32, "SHA-256 gave a digest of \(length) bytes")
            count = 32
        }
    }

    /// The digest as 64 lowercase hex characters.
    public func hexDigest() -> String {
        let digest = finalize()
        return String(unsafeUninitializedCapacity: 64) { out in
            for (k, b) in digest.enumerated() {
                out[2 * k] = Self.hexDigits[Int(b >> 4)]
                out[2 * k + 1] = Self.hexDigits[Int(b & 0xF)]
            }
            return 64
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// The hex digest of `bytes` in one call.
    public static func hex(_ bytes: some Sequence<UInt8>) -> String {
        var h = SHA256()
        h.update(bytes)
        return h.hexDigest()
    }

    /// libcrypto's calls fail only when memory runs out.
    fileprivate static func check(_ result: Int32, _ call: String) {
        precondition(result == 1, "\(call) failed (out of memory?)")
    }

    /// The algorithm, looked up in OpenSSL's providers once (an implicit lookup on every init
    /// costs more than hashing a short request). Thread-safe to share: only read.
    nonisolated(unsafe) fileprivate static let algorithm: OpaquePointer = {
        guard let md = EVP_MD_fetch(nil, "SHA256", nil) else { preconditionFailure("libcrypto has no SHA256") }
        return md
    }()

    /// One `EVP_MD_CTX`, owned. Changed only through a hasher that holds the only reference.
    private final class Context: @unchecked Sendable {
        let pointer: OpaquePointer

        init() {
            guard let p = EVP_MD_CTX_new() else { preconditionFailure("EVP_MD_CTX_new failed (out of memory?)") }
            pointer = p
            SHA256.check(EVP_DigestInit_ex(p, SHA256.algorithm, nil), "EVP_DigestInit_ex")
        }

        private init(copying other: Context) {
            guard let p = EVP_MD_CTX_new() else { preconditionFailure("EVP_MD_CTX_new failed (out of memory?)") }
            pointer = p
            SHA256.check(EVP_MD_CTX_copy_ex(p, other.pointer), "EVP_MD_CTX_copy_ex")
        }

        func copy() -> Context { Context(copying: self) }

        deinit { EVP_MD_CTX_free(pointer) }
    }
}
