#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes text to a file descriptor through a 64 KiB buffer: one `write(2)` per 64 KiB instead of
/// one per row (a million-row export is then bound by formatting, not by system calls).
public final class BufferedWriter {
    public static let capacity = 64 * 1024
    private let fd: Int32
    private let ownsDescriptor: Bool
    /// Escapes control characters as they are written (`TerminalText`): set for a terminal.
    public let escapesControls: Bool
    private var buffer: [UInt8] = []

    /// Writes to an open descriptor it does not close (1 for stdout).
    public init(fileDescriptor: Int32, escapingControls: Bool = false) {
        self.fd = fileDescriptor
        self.ownsDescriptor = false
        self.escapesControls = escapingControls
        buffer.reserveCapacity(Self.capacity)
    }

    /// Creates or truncates the file at `path`.
    public init(path: String) throws {
        let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
        guard fd >= 0 else { throw ExportError.cannotWrite(path: path, reason: String(cString: strerror(errno))) }
        self.fd = fd
        self.ownsDescriptor = true
        self.escapesControls = false
        buffer.reserveCapacity(Self.capacity)
    }

    /// Standard output; when it is a terminal, control characters in what is written are escaped
    /// (`TerminalText`), so stored text cannot drive the terminal.
    public static func standardOutput() -> BufferedWriter { BufferedWriter(fileDescriptor: 1, escapingControls: isatty(1) == 1) }

    deinit {
        try? flush()
        if ownsDescriptor { close(fd) }
    }

    public func write(_ text: String) throws {
        var text = text
        try text.withUTF8 { try write(bytes: UnsafeRawBufferPointer($0)) }
    }

    public func write(bytes: UnsafeRawBufferPointer) throws {
        if escapesControls, let escaped = TerminalText.escaped(bytes) {
            try escaped.withUnsafeBytes { try append($0) }
        } else {
            try append(bytes)
        }
    }

    private func append(_ bytes: UnsafeRawBufferPointer) throws {
        if buffer.count + bytes.count > Self.capacity { try flush() }
        if bytes.count >= Self.capacity { try writeAll(bytes); return }
        buffer.append(contentsOf: bytes)
    }

    /// Hands everything buffered to the kernel.
    public func flush() throws {
        guard !buffer.isEmpty else { return }
        try buffer.withUnsafeBytes { try writeAll($0) }
        buffer.removeAll(keepingCapacity: true)
    }

    private func writeAll(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let n = systemWrite(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw ExportError.cannotWrite(path: fd == 1 ? "standard output" : "output file", reason: String(cString: strerror(errno)))
            }
            offset += n
        }
    }
}

/// `write(2)`; a free function because the methods above shadow the name.
private func systemWrite(_ fd: Int32, _ bytes: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(fd, bytes, count)
    #else
    return Darwin.write(fd, bytes, count)
    #endif
}

/// Something went wrong while exporting results.
public enum ExportError: Error, Sendable, CustomStringConvertible {
    case cannotWrite(path: String, reason: String)
    case unknownState(String)

    public var description: String {
        switch self {
        case .cannotWrite(let path, let reason): return "cannot write \(path): \(reason)"
        case .unknownState(let s): return "unknown job state \"\(s)\"; use pending, running, succeeded, failed or cancelled"
        }
    }
}
