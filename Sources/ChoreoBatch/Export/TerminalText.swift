/// Text from a batch (a custom_id, a model's output, an error message) shown on a terminal with
/// its control characters made visible, so that a hostile output cannot move the cursor, rewrite
/// what is on screen, set the window title or talk to the terminal (`ESC ]`, `ESC [`, CSI …).
///
/// Escaped: C0 controls except newline and tab (`ESC` → `\x1B`, `CR` → `\x0D`), `DEL` (`\x7F`)
/// and C1 controls (U+0080–U+009F, `CSI` → `\u009B`). Everything else, UTF-8 included, is kept.
/// Only output to a terminal is escaped (`BufferedWriter.standardOutput()`): a file or a pipe gets
/// the bytes as stored.
public enum TerminalText {
    /// `bytes` with its controls escaped, or nil when there is nothing to escape (the usual case,
    /// found in one pass without copying).
    public static func escaped(_ bytes: UnsafeRawBufferPointer) -> [UInt8]? {
        guard let first = firstControl(bytes, from: 0) else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(bytes.count + 16)
        out.append(contentsOf: bytes[0..<first])
        var i = first
        while i < bytes.count {
            let b = bytes[i]
            if b < 0x20 && b != 0x0A && b != 0x09 || b == 0x7F {
                out += Array("\\x".utf8) + hex(b)
                i += 1
            } else if b == 0xC2, i + 1 < bytes.count, bytes[i + 1] >= 0x80, bytes[i + 1] <= 0x9F {
                out += Array("\\u00".utf8) + hex(bytes[i + 1])
                i += 2
            } else {
                out.append(b)
                i += 1
            }
        }
        return out
    }

    /// `text` with its controls escaped.
    public static func escaped(_ text: String) -> String {
        var text = text
        return text.withUTF8 { buffer in
            escaped(UnsafeRawBufferPointer(buffer)).map { String(decoding: $0, as: UTF8.self) }
        } ?? text
    }

    private static func firstControl(_ bytes: UnsafeRawBufferPointer, from start: Int) -> Int? {
        var i = start
        while i < bytes.count {
            let b = bytes[i]
            if b < 0x20 && b != 0x0A && b != 0x09 || b == 0x7F { return i }
            if b == 0xC2, i + 1 < bytes.count, bytes[i + 1] >= 0x80, bytes[i + 1] <= 0x9F { return i }
            i += 1
        }
        return nil
    }

    private static func hex(_ b: UInt8) -> [UInt8] {
        let digits = Array("0123456789ABCDEF".utf8)
        return [digits[Int(b >> 4)], digits[Int(b & 0xF)]]
    }
}
