import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// Ports on 127.0.0.1 for the real servers tests start outside this process (nginx, tinyproxy),
/// which take a port number rather than reporting the one they bound.
public enum LoopbackPort {
    /// A port nothing listens on now. Another process may take it before the server binds it:
    /// a caller whose server then fails to start tries another.
    public static func free() throws -> Int {
        try Hold().port  // bound for the moment, then let go
    }

    /// Whether a server accepts TCP connections on `port` (connects and closes at once).
    public static func accepts(_ port: Int) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = UInt16(port).bigEndian
        return withUnsafePointer(to: &address) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) == 0 }
        }
    }

    /// A port on 127.0.0.1 that refuses connections for as long as this value lives: a socket
    /// bound to it that never listens. Unlike a port a server was stopped on, no other test's
    /// server can take it meanwhile (a bind to port 0 never picks a bound port), so a connection
    /// to it is refused, never answered by a stranger.
    ///
    /// `sharing`: the socket sets SO_REUSEPORT, so a server started with the same option
    /// (`MockServer.start(sharingPort: true)`) may listen on the port while it is held: hold it
    /// before stopping that server, start the next one before releasing it, and the port is never
    /// free for anyone else.
    public final class Hold: @unchecked Sendable {  // fd: set once; release() from one test task
        public let port: Int
        private var fd: Int32

        public init(port: Int = 0, sharing: Bool = false) throws {
            let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
            var one: Int32 = 1
            if sharing { setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<Int32>.size)) }
            var address = sockaddr_in()
            address.sin_family = sa_family_t(AF_INET)
            address.sin_addr.s_addr = inet_addr("127.0.0.1")
            address.sin_port = UInt16(port).bigEndian
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let bound = withUnsafeMutablePointer(to: &address) { p in
                p.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
            }
            guard bound else {
                let reason = String(cString: strerror(errno))
                close(fd)
                throw NoFreePort(reason: "binding port \(port): \(reason)")
            }
            self.fd = fd
            self.port = Int(UInt16(bigEndian: address.sin_port))
        }

        /// Lets the port go (also done when the value is freed).
        public func release() {
            if fd >= 0 { close(fd) }
            fd = -1
        }

        deinit { release() }
    }

    public struct NoFreePort: Error, CustomStringConvertible {
        public let reason: String
        public var description: String { "no free port on 127.0.0.1: \(reason)" }
    }
}
