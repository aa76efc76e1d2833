import Foundation

/// Keeps a provider's key out of text a server sent. Some gateways echo the key back in an error
/// (an HTTP error body, an in-band stream error, a malformed event quoted in a message); every such
/// text passes through here before it is stored, logged or printed.
enum Redaction {
    static let marker = "[redacted key]"

    /// `text` with every occurrence of `key` replaced, and a key cut off at the end of the text
    /// (messages quote the first bytes of an event) replaced from its first 8 characters on.
    static func redacting(_ key: String?, in text: String) -> String {
        guard let key, key.count >= 8 else { return text }
        var out = text.contains(key) ? text.replacingOccurrences(of: key, with: marker) : text
        for length in stride(from: key.count - 1, through: 8, by: -1) where out.hasSuffix(key.prefix(length)) {
            out = out.dropLast(length) + marker
            break
        }
        return out
    }
}
