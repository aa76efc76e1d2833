/// A PostgreSQL connection URL (`postgres://user@host:5432/db?sslmode=require`), as libpq reads it
/// (https://www.postgresql.org/docs/current/libpq-connect.html#LIBPQ-CONNSTRING-URIS).
///
/// The password may be in it (`user:secret@host`, `?password=secret`), so the URL as given is
/// handed to libpq and to nothing else: `description`, and every error this module throws, show
/// `redacted`, where the password is `***`. `PGPASSWORD` and `~/.pgpass` work as libpq users know.
public struct PostgresURL: Sendable, Hashable, CustomStringConvertible {
    /// The URL as given, password included. Only for libpq.
    let string: String
    /// The URL with its password (userinfo and `password=` parameter) replaced by `***`.
    public let redacted: String
    /// The password as libpq will read it (percent-decoded), to scrub from messages; nil when none.
    private let password: String?

    /// True when `text` is a PostgreSQL URL (`postgres://` or `postgresql://`) rather than a path.
    public static func isPostgresURL(_ text: String) -> Bool {
        text.hasPrefix("postgres://") || text.hasPrefix("postgresql://")
    }

    /// Throws when `text` is not a `postgres://` or `postgresql://` URL.
    public init(_ text: String) throws {
        guard Self.isPostgresURL(text) else {
            throw PostgresError(code: .connectionFailure, message: "not a PostgreSQL URL (postgres://user@host/db expected)")
        }
        string = text
        (redacted, password) = Self.redact(text)
    }

    public var description: String { redacted }

    /// `message` with the password replaced by `***` wherever it appears. libpq does not put the
    /// password in its messages; this is the second line of defence, for any text that quotes
    /// the URL or the connection's settings. Passwords shorter than 4 characters are left to the
    /// first line (replacing "ab" in every message would garble them and hide nothing).
    public func scrub(_ message: String) -> String {
        var out = message.replacingAll(string, with: redacted)
        if let password, password.count >= 4 { out = out.replacingAll(password, with: "***") }
        return out
    }

    /// The URL with `***` for its password, and the password (decoded). Errs on the side of hiding:
    /// everything between the scheme's `//` and the LAST `@` is the userinfo (libpq itself cuts at
    /// the first `@`; a password holding a raw `@` is then hidden all the same).
    static func redact(_ url: String) -> (String, String?) {
        guard let schemeEnd = url.firstRange(of: "://") else { return (url, nil) }
        var head = String(url[..<schemeEnd.upperBound])
        var rest = Substring(url[schemeEnd.upperBound...])
        var password: String?
        if let at = rest.lastIndex(of: "@") {
            let userinfo = rest[..<at]
            if let colon = userinfo.firstIndex(of: ":") {
                password = String(userinfo[userinfo.index(after: colon)...]).percentDecoded
                head += userinfo[...colon] + "***"
            } else {
                head += userinfo
            }
            rest = rest[at...]
        }
        // `?password=…` (and `&password=…`) up to the next parameter.
        var out = head
        if let query = rest.firstIndex(of: "?") {
            out += rest[..<query]
            let parameters = rest[rest.index(after: query)...].split(separator: "&", omittingEmptySubsequences: false).map { p -> String in
                guard p.lowercased().hasPrefix("password=") else { return String(p) }
                password = String(p.dropFirst("password=".count)).percentDecoded
                return "password=***"
            }
            out += "?" + parameters.joined(separator: "&")
        } else {
            out += rest
        }
        return (out, password.flatMap { $0.isEmpty ? nil : $0 })
    }
}

extension String {
    /// `%XX` sequences decoded as UTF-8 (invalid sequences kept as they are).
    var percentDecoded: String {
        var bytes: [UInt8] = []
        var utf8 = Array(self.utf8)[...]
        while let b = utf8.popFirst() {
            if b == UInt8(ascii: "%"), utf8.count >= 2,
               let value = UInt8(String(decoding: utf8.prefix(2), as: UTF8.self), radix: 16) {
                bytes.append(value)
                utf8 = utf8.dropFirst(2)
            } else {
                bytes.append(b)
            }
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    func replacingAll(_ target: String, with replacement: String) -> String {
        guard !target.isEmpty else { return self }
        return split(separator: target, omittingEmptySubsequences: false).joined(separator: replacement)
    }
}
