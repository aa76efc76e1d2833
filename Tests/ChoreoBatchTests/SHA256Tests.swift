import Testing
@testable import ChoreoBatch
import ChoreoTesting

@Suite("SHA-256")
struct SHA256Tests {
    @Test(arguments: [
        ("", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"),
        ("abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"),
        ("abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq", "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"),
        ("The quick brown fox jumps over the lazy dog", "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592"),
    ])
    func knownVectors(input: String, digest: String) {
        #expect(SHA256.hex(Array(input.utf8)) == digest)
    }

    /// Each side of the padding's one-block and two-block cases (a message of 55 bytes leaves room
    /// for the length in its last block, one of 56 to 63 does not). Digests by Python's hashlib.
    @Test(arguments: [
        (55, "9f4390f8d30c2dd92ec9f095b65e2b9ae9b0a925a5258e241c9f1e910f734318"),
        (63, "7d3e74a05d7db15bce4ad9ec0658ea98e3f06eeecf16b4c6fff2da457ddc2f34"),
        (64, "ffe054fe7ae0cb6dc65c3af9b61d5209f439851db43d0ba5997337df154668eb"),
        (119, "31eba51c313a5c08226adf18d4a359cfdfd8d2e816b13f4af952f7ea6584dcfb"),
        (120, "2f3d335432c70b580af0e8e1b3674a7c020d683aa5f73aaaedfdc55af904c21c"),
    ])
    func paddingBoundaries(length: Int, digest: String) {
        #expect(SHA256.hex([UInt8](repeating: UInt8(ascii: "a"), count: length)) == digest)
    }

    @Test func oneMillionA() {
        var h = SHA256()
        let chunk = [UInt8](repeating: UInt8(ascii: "a"), count: 1000)
        for _ in 0..<1000 { h.update(chunk) }
        #expect(h.hexDigest() == "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0")
    }

    /// A hasher is a value: a copy goes on on its own, and a digest taken midway changes nothing.
    @Test func aCopyGoesOnOnItsOwnAndADigestLeavesTheHasherAsItWas() {
        var a = SHA256()
        a.update(Array("The quick brown fox ".utf8))
        var b = a
        #expect(a.hexDigest() == SHA256.hex(Array("The quick brown fox ".utf8)))
        a.update(Array("jumps over the lazy dog".utf8))
        b.update(Array("jumps over the lazy cat".utf8))
        #expect(a.hexDigest() == "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592")
        #expect(a.hexDigest() == "d7a8fbb307d7809469ca9abcb0082e4f8d5651e46d3cdb762d02d0bf37c9e592")
        #expect(b.hexDigest() == SHA256.hex(Array("The quick brown fox jumps over the lazy cat".utf8)))
        #expect(b.hexDigest() != a.hexDigest())
    }

    @Test func splitAtEveryOffsetGivesTheSameDigest() throws {
        let bytes = Array((0..<300).map { UInt8(truncatingIfNeeded: $0 &* 7) })
        let digest = try expectEverySplitMatchesWhole(bytes) { pieces in
            var h = SHA256()
            for piece in pieces { h.update(piece) }
            return h.hexDigest()
        }
        #expect(digest == SHA256.hex(bytes))
    }
}
