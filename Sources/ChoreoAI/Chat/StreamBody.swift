import Foundation

/// What the 2xx body of a streamed request turned out to be, told by its first byte that is
/// not white space. An event stream starts with a field (`data:`, `event:`, `:` …); a server
/// that ignores `stream` (some gateways and OpenAI-compatible servers) answers with the whole
/// completion as one JSON object (`{`); a login page or a web server where an API should be
/// answers with HTML (`<`). Only the first reads are looked at: an event stream costs one switch
/// a read.
enum StreamBody {
    /// Nothing but white space so far.
    case unread
    /// An event stream: every read goes to the SSE parser.
    case events
    /// A whole JSON body, gathered for the format's non-streaming decoder at the end.
    case whole([UInt8])

    /// Takes one read: true when its bytes are for the SSE parser. Throws `NotAnEventStream` for
    /// a web page, and `SSEParseError` for a whole body over `cap` bytes.
    mutating func take(_ raw: UnsafeRawBufferPointer, cap: Int) throws -> Bool {
        switch self {
        case .events:
            return true
        case .unread:
            guard let first = raw.first(where: { !Self.isWhiteSpace($0) }) else { return true }  // blank lines: nothing to the parser either
            switch first {
            case UInt8(ascii: "{"): self = .whole(Array(raw))
            case UInt8(ascii: "<"): throw NotAnEventStream(page: raw)
            default: self = .events; return true
            }
            return false
        case .whole(var bytes):
            guard bytes.count + raw.count <= cap else {
                throw SSEParseError(reason: "a whole JSON answer is larger than \(cap) bytes")
            }
            self = .unread  // so that `bytes` is the array's only reference, and grows in place
            bytes.append(contentsOf: raw)
            self = .whole(bytes)
            return false
        }
    }

    static func isWhiteSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
}

/// A 2xx answer to a streamed request that is a web page (HTML), not an event stream: a proxy's
/// or a captive portal's login page, or a web server at a base URL that should name an API.
/// Every request to that URL would get the same page.
struct NotAnEventStream: Error {
    let message: String

    init(page: UnsafeRawBufferPointer) {
        message = "the server answered with a web page, not an event stream: \"\(Self.pageSummary(ArraySlice(page)))\""
    }

    /// What a page says, in a few words: its `<title>`, else its first text, tags left out and
    /// white space made single spaces; at most 120 characters.
    static func pageSummary(_ page: ArraySlice<UInt8>) -> String {
        let html = String(decoding: page, as: UTF8.self)
        var text: Substring = html[...]
        if let open = html.range(of: "<title", options: .caseInsensitive),
           let openEnd = html[open.upperBound...].firstIndex(of: ">"),
           let close = html[openEnd...].range(of: "</title", options: .caseInsensitive) {
            text = html[html.index(after: openEnd)..<close.lowerBound]
        }
        var words: [Substring] = []
        var inTag = false
        var word = text.startIndex
        for i in text.indices {
            let c = text[i]
            let ends = c == "<" || (!inTag && (c == " " || c == "\n" || c == "\r" || c == "\t"))
            if ends || (inTag && c == ">") {
                if !inTag, word < i { words.append(text[word..<i]) }
                if c == "<" { inTag = true } else if c == ">" { inTag = false }
                word = text.index(after: i)
            }
        }
        if !inTag, word < text.endIndex { words.append(text[word...]) }
        let summary = words.joined(separator: " ")
        return summary.count > 120 ? summary.prefix(119) + "…" : summary
    }
}
