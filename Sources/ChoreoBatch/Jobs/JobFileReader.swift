#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Streams a JSONL job file line by line with bounded memory: it reads 1 MiB blocks with
/// `read(2)`, never the whole file.
///
/// Blank lines are skipped (but counted, so line numbers match an editor's), line ends may be
/// CRLF and a UTF-8 byte-order mark at the start is dropped. A line longer than `maxLineBytes` or
/// not valid UTF-8 comes back as a `.rejected` item and reading goes on.
public struct JobFileReader: ~Copyable {
    /// One item of the file.
    public enum Item {
        /// A non-blank line's bytes (without the line terminator), with its 1-based number.
        case line(number: Int, bytes: [UInt8])
        case rejected(JobLineError)
    }

    public static let defaultMaxLineBytes = 4 * 1024 * 1024
    static let blockSize = 1024 * 1024

    public let path: String
    private let fd: Int32
    private let maxLineBytes: Int
    private var block: [UInt8]
    private var blockCount = 0
    private var position = 0
    private var lineNumber = 0
    private var atEOF = false
    /// Bytes read so far.
    public private(set) var bytesRead = 0

    public init(path: String, maxLineBytes: Int = JobFileReader.defaultMaxLineBytes) throws {
        self.path = path
        self.fd = try Self.openForReading(path)
        self.maxLineBytes = maxLineBytes
        self.block = [UInt8](repeating: 0, count: Self.blockSize)
    }

    deinit { close(fd) }

    /// The next non-blank line, or nil at the end of the file.
    public mutating func next() throws -> Item? {
        var line: [UInt8] = []
        var tooLarge = false
        while true {
            if position == blockCount {
                if atEOF { break }
                try fill()
                if blockCount == 0 { atEOF = true; break }
            }
            // Find the end of the line in the current block.
            let start = position
            let newline: Int? = block.withUnsafeBytes { buf in
                guard let hit = memchr(buf.baseAddress! + start, 0x0A, blockCount - start) else { return nil }
                return buf.baseAddress!.distance(to: UnsafeRawPointer(hit))
            }
            let end = newline ?? blockCount
            if !tooLarge {
                if line.count + (end - start) > maxLineBytes {
                    tooLarge = true
                    line = []
                } else {
                    line.append(contentsOf: block[start..<end])
                }
            }
            position = newline.map { $0 + 1 } ?? blockCount
            if newline != nil {
                lineNumber += 1
                if let item = finish(&line, tooLarge: tooLarge) { return item }
                tooLarge = false
                continue
            }
        }
        // The last line may have no terminator.
        if tooLarge || !line.isEmpty {
            lineNumber += 1
            return finish(&line, tooLarge: tooLarge)
        }
        return nil
    }

    private func finish(_ line: inout [UInt8], tooLarge: Bool) -> Item? {
        if tooLarge {
            return .rejected(JobLineError(line: lineNumber, field: nil, code: "line_too_large",
                                          message: "the line is longer than \(maxLineBytes) bytes"))
        }
        if line.last == 0x0D { line.removeLast() }
        // A UTF-8 byte-order mark before the first line (Windows editors and PowerShell write
        // one): not part of the JSON, which may ignore it (RFC 8259, 8.1).
        if lineNumber == 1, line.starts(with: [0xEF, 0xBB, 0xBF]) { line.removeFirst(3) }
        if line.first != UInt8(ascii: "{"), line.allSatisfy({ $0 == 0x20 || $0 == 0x09 }) { line = []; return nil }
        if let offset = Self.firstInvalidUTF8(line) {
            line = []
            return .rejected(JobLineError(line: lineNumber, field: nil, code: "invalid_utf8",
                                          message: "the line is not valid UTF-8 (at byte \(offset))"))
        }
        defer { line = [] }
        return .line(number: lineNumber, bytes: line)
    }

    private mutating func fill() throws {
        let n = try Self.readBlock(fd, into: &block, path: path)
        bytesRead += n
        blockCount = n
        position = 0
    }

    /// What identifies a file's current content cheaply: device, inode, size, modification time.
    public struct Identity: Equatable, Sendable {
        var device: UInt64, inode: UInt64, size: Int64, modifiedSeconds: Int, modifiedNanoseconds: Int
    }

    public static func identity(ofFile path: String) throws -> Identity {
        var info = stat()
        guard stat(path, &info) == 0 else { throw JobFileReadError(path: path, reason: String(cString: strerror(errno))) }
        return Identity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino), size: Int64(info.st_size),
                        modifiedSeconds: Int(info.st_mtim.tv_sec), modifiedNanoseconds: Int(info.st_mtim.tv_nsec))
    }

    /// The SHA-256 of a whole file, read in 1 MiB blocks.
    public static func sha256Hex(ofFile path: String) throws -> String {
        let fd = try openForReading(path)
        defer { close(fd) }
        var block = [UInt8](repeating: 0, count: blockSize)
        var hasher = SHA256()
        while true {
            let n = try readBlock(fd, into: &block, path: path)
            if n == 0 { return hasher.hexDigest() }
            block.withUnsafeBytes { hasher.update(UnsafeRawBufferPointer(rebasing: $0[0..<n])) }
        }
    }

    /// Throws `JobFileReadError` when `path` cannot be read as a job file (missing, a folder, not
    /// permitted): what `submit` checks before it creates a database for it.
    public static func checkReadable(_ path: String) throws {
        close(try openForReading(path))
    }

    /// Opens `path` for reading; a directory is refused here rather than failing at the first read.
    private static func openForReading(_ path: String) throws -> Int32 {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw JobFileReadError(path: path, reason: String(cString: strerror(errno))) }
        var info = stat()
        if fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFDIR {
            close(fd)
            throw JobFileReadError(path: path, reason: "it is a directory")
        }
        return fd
    }

    /// One `read(2)` into `block` (retried on EINTR); the number of bytes read, 0 at the end.
    private static func readBlock(_ fd: Int32, into block: inout [UInt8], path: String) throws -> Int {
        let n = block.withUnsafeMutableBytes { buf -> Int in
            while true {
                let r = read(fd, buf.baseAddress, buf.count)
                if r < 0, errno == EINTR { continue }
                return r
            }
        }
        guard n >= 0 else { throw JobFileReadError(path: path, reason: String(cString: strerror(errno))) }
        return n
    }

    /// The offset of the first byte that breaks UTF-8, or nil when `bytes` is valid.
    static func firstInvalidUTF8(_ bytes: [UInt8]) -> Int? {
        // Fast path: most job lines are ASCII (non-ASCII text usually arrives as \u escapes).
        if !bytes.contains(where: { $0 >= 0x80 }) { return nil }
        var iterator = bytes.makeIterator()
        var decoder = UTF8()
        var offset = 0
        while true {
            switch decoder.decode(&iterator) {
            case .scalarValue(let s): offset += UTF8.width(s)
            case .emptyInput: return nil
            case .error: return offset
            }
        }
    }
}
