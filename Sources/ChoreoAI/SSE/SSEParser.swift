#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// One server-sent event.
public struct SSEEvent: Sendable, Hashable {
    /// The `event:` field, or `"message"` when the event had none.
    public var type: String
    /// The joined `data:` lines, as bytes (decoders parse them without going through `String`).
    public var data: [UInt8]
    /// The last event id seen so far in the stream (it persists across events).
    public var lastEventID: String?

    public init(type: String = "message", data: [UInt8], lastEventID: String? = nil) {
        self.type = type
        self.data = data
        self.lastEventID = lastEventID
    }

    public var text: String { String(decoding: data, as: UTF8.self) }
}

/// One server-sent event, borrowed: `data` points into the parser's buffer and is valid only
/// during the callback that receives it (the parser reuses the buffer for the next event).
public struct SSEEventView {
    /// The `event:` field, or `nil` when the event had none (`"message"`).
    public var type: String?
    public var data: UnsafeRawBufferPointer
    public var lastEventID: String?

    /// A copy that outlives the callback.
    public var event: SSEEvent { SSEEvent(type: type ?? "message", data: Array(data), lastEventID: lastEventID) }
}

/// An SSE stream broke a rule the parser cannot recover from.
public struct SSEParseError: Error, Sendable, CustomStringConvertible {
    public let reason: String
    public var description: String { "event stream: \(reason)" }
}

/// An incremental parser for `text/event-stream` (WHATWG HTML, "event stream interpretation").
///
/// Feed it bytes as they arrive, split anywhere (inside a line, between CR and LF, inside a UTF-8
/// character); it yields exactly the events the whole stream would. Lines end at CRLF, LF or CR;
/// one leading BOM is dropped; comments and unknown fields are ignored. A line longer than
/// `maxLineLength`, or an event's data longer than `maxEventSize` (`data:` lines that never meet
/// a blank line), is an error instead of unbounded memory.
public struct SSEParser: @unchecked Sendable {  // `lentData` never outlives a `feed` call
    public let maxLineLength: Int
    public let maxEventSize: Int
    /// The reconnection delay the server last asked for, in milliseconds.
    public private(set) var retryMilliseconds: Int?
    private var line: [UInt8] = []
    private var spareLine: [UInt8] = []
    private var data: [UInt8] = []
    /// The event's only data line so far, still in the caller's bytes (valid during `feed`).
    private var lentData: UnsafeRawBufferPointer?
    private var hasData = false
    private var eventType: String?
    /// The last `event:` name read: the next one with the same bytes reuses it.
    private var recentType: String?
    private var lastEventID: String?
    private var swallowLF = false
    private var bomBytesChecked = 0

    /// The default `maxEventSize`: 16 MiB, far above any chunk a provider sends.
    public static let defaultMaxEventSize = 16 << 20

    public init(maxLineLength: Int = 8 << 20, maxEventSize: Int = SSEParser.defaultMaxEventSize) {
        self.maxLineLength = min(maxLineLength, maxEventSize)
        self.maxEventSize = maxEventSize
    }

    /// Parses `bytes` and calls `onEvent` for each event completed by them.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, onEvent: (SSEEvent) throws -> Void) throws {
        try feed(bytes, onEventView: { try onEvent($0.event) })
    }

    /// Parses `bytes` and calls `onEventView` for each event completed by them, lending the
    /// event's data instead of copying it into a new array: the per-chunk path of a stream.
    public mutating func feed(_ bytes: UnsafeRawBufferPointer, onEventView onEvent: (SSEEventView) throws -> Void) throws {
        var start = 0
        let count = bytes.count
        // A BOM (EF BB BF) is dropped only at the very start of the stream, even when split.
        while bomBytesChecked < 3 && start < count {
            let expected: [UInt8] = [0xEF, 0xBB, 0xBF]
            if bytes[start] == expected[bomBytesChecked] && line.count == bomBytesChecked {
                line.append(bytes[start])
                bomBytesChecked += 1
                start += 1
                if bomBytesChecked == 3 { line.removeAll(keepingCapacity: true) }
            } else {
                bomBytesChecked = 3  // not a BOM: whatever was held stays as line content
            }
        }
        var i = start
        if swallowLF && i < count {
            swallowLF = false
            if bytes[i] == 0x0A { i += 1 }
        }
        var lineStart = i
        // A data line taken straight from `bytes` is lent to the event, not copied, when the event
        // ends within this call (the usual `data: {...}\n\n`); otherwise it is copied below.
        defer { keepLentData() }
        while i < count {
            i = Self.lineEnd(bytes, from: i)
            guard i < count else { break }
            let b = bytes[i]
            if line.isEmpty {
                try processLine(UnsafeRawBufferPointer(rebasing: bytes[lineStart..<i]), lendable: true, onEvent: onEvent)
            } else {
                line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<i]))
                try checkLength()
                // Swap in the spare buffer: no allocation for a line split across reads.
                var whole = spareLine
                swap(&whole, &line)
                defer {
                    whole.removeAll(keepingCapacity: true)
                    spareLine = whole
                }
                try whole.withUnsafeBytes { try processLine($0, lendable: false, onEvent: onEvent) }
            }
            i = afterTerminator(b, bytes, i + 1)
            // Empty lines right after (an event's end: `data: {...}\n\n`, Gemini's `\r\n\r\n`) are
            // taken where they are, without searching for their end (two `memchr` and the loop's
            // bookkeeping, ~100 instructions an event).
            while i < count, bytes[i] == 0x0A || bytes[i] == 0x0D {
                try processLine(UnsafeRawBufferPointer(rebasing: bytes[i..<i]), lendable: true, onEvent: onEvent)
                i = afterTerminator(bytes[i], bytes, i + 1)
            }
            lineStart = i
        }
        if lineStart < count {
            line.append(contentsOf: UnsafeRawBufferPointer(rebasing: bytes[lineStart..<count]))
            try checkLength()
        }
    }

    /// Where the next line starts after a line ended by `b` (CR or LF) just before `next`: past
    /// the LF of a CRLF. A CR that ends `bytes` may be half of one: the LF that begins the next
    /// read is dropped then (`swallowLF`).
    private mutating func afterTerminator(_ b: UInt8, _ bytes: UnsafeRawBufferPointer, _ next: Int) -> Int {
        guard b == 0x0D else { return next }
        guard next < bytes.count else {
            swallowLF = true
            return next
        }
        return bytes[next] == 0x0A ? next + 1 : next
    }

    /// The index of the first CR or LF at or after `from`, or `bytes.count`.
    private static func lineEnd(_ bytes: UnsafeRawBufferPointer, from: Int) -> Int {
        let count = bytes.count
        guard from < count, let base = bytes.baseAddress else { return count }
        let lf = memchr(base + from, 0x0A, count - from).map { $0 - UnsafeMutableRawPointer(mutating: base) } ?? count
        let cr = memchr(base + from, 0x0D, lf - from).map { $0 - UnsafeMutableRawPointer(mutating: base) } ?? lf
        return cr
    }

    /// Copies a lent data line into `data` before the bytes it points into go away.
    private mutating func keepLentData() {
        guard let lent = lentData else { return }
        lentData = nil
        data.append(contentsOf: lent)
        data.append(0x0A)
    }

    /// Convenience for tests and small inputs: returns the events completed by `bytes`.
    public mutating func feed(_ bytes: [UInt8]) throws -> [SSEEvent] {
        var events: [SSEEvent] = []
        try bytes.withUnsafeBytes { try feed($0) { events.append($0) } }
        return events
    }

    /// Whether bytes of an event that was never dispatched are pending: at end of stream this
    /// means the stream was cut (the spec discards such an event).
    public var hasPendingEvent: Bool { hasData || !line.isEmpty }

    private func checkLength() throws {
        if line.count > maxLineLength {
            throw SSEParseError(reason: "a line is longer than \(maxLineLength) bytes")
        }
    }

    private mutating func processLine(_ l: UnsafeRawBufferPointer, lendable: Bool, onEvent: (SSEEventView) throws -> Void) throws {
        if l.isEmpty {
            if hasData, let lent = lentData {
                let type = eventType, id = lastEventID
                hasData = false
                eventType = nil
                lentData = nil
                try onEvent(SSEEventView(type: type, data: lent, lastEventID: id))
            } else if hasData {
                data.removeLast()  // the trailing LF
                let type = eventType, id = lastEventID
                hasData = false
                eventType = nil
                defer { data.removeAll(keepingCapacity: true) }
                try data.withUnsafeBytes { try onEvent(SSEEventView(type: type, data: $0, lastEventID: id)) }
            } else {
                eventType = nil
            }
            return
        }
        if l[0] == UInt8(ascii: ":") { return }
        var colon = -1
        for k in 0..<l.count where l[k] == UInt8(ascii: ":") { colon = k; break }
        let name: UnsafeRawBufferPointer
        let value: UnsafeRawBufferPointer
        if colon < 0 {
            name = l
            value = UnsafeRawBufferPointer(rebasing: l[l.count...])
        } else {
            name = UnsafeRawBufferPointer(rebasing: l[..<colon])
            var v = colon + 1
            if v < l.count && l[v] == 0x20 { v += 1 }
            value = UnsafeRawBufferPointer(rebasing: l[v...])
        }
        if Self.equals(name, "data") {
            if lendable && !hasData {
                lentData = value
                hasData = true
                return
            }
            keepLentData()
            guard data.count + value.count < maxEventSize else {
                throw SSEParseError(reason: "an event is larger than \(maxEventSize) bytes (data lines without the blank line that ends an event)")
            }
            data.append(contentsOf: value)
            data.append(0x0A)
            hasData = true
        } else if Self.equals(name, "event") {
            // A provider names nearly every event alike (Anthropic: `content_block_delta`), and a
            // name past 15 bytes is a heap allocation a time: the last one is reused when it matches.
            if var recent = recentType, !value.isEmpty,
               recent.withUTF8({ $0.count == value.count && memcmp($0.baseAddress!, value.baseAddress!, value.count) == 0 }) {
                eventType = recent
            } else {
                eventType = String(decoding: value, as: UTF8.self)
                recentType = eventType
            }
        } else if Self.equals(name, "id") {
            if !value.contains(0) { lastEventID = String(decoding: value, as: UTF8.self) }
        } else if Self.equals(name, "retry") {
            if !value.isEmpty, value.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) {
                retryMilliseconds = Int(String(decoding: value, as: UTF8.self))
            }
        }
    }

    private static func equals(_ bytes: UnsafeRawBufferPointer, _ word: StaticString) -> Bool {
        guard bytes.count == word.utf8CodeUnitCount else { return false }
        let p = word.utf8Start
        for k in 0..<bytes.count where bytes[k] != p[k] { return false }
        return true
    }
}
