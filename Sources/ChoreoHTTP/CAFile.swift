import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A file of certificate authorities for `HTTPRequest.caFile`: PEM text with one or more
/// `-----BEGIN CERTIFICATE-----` blocks, as `curl --cacert` takes (OpenSSL's libcurl reads no DER).
///
/// curl opens the file only when a transfer makes its first TLS connection, and then reports any
/// problem as that transfer's TLS failure (`CURLE_SSL_CACERT_BADFILE`), one request at a time.
/// Callers check the file once, before any request, so a wrong path is a message naming it.
public enum CAFile {
    /// Larger than any real bundle (Debian's holds 140 authorities in 200 KiB): a file past it is
    /// not one, and is not read whole to find out.
    static let maxBytes = 16 << 20

    /// Why curl could not trust the authorities in the file at `path`, or nil when it is a
    /// readable file with at least one PEM certificate. The reason does not repeat the path.
    public static func problem(at path: String) -> String? {
        let fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)  // NONBLOCK: a FIFO fails instead of waiting
        guard fd >= 0 else {
            return errno == ENOENT ? "no such file" : "cannot read it (\(String(cString: strerror(errno))))"
        }
        let handle = FileHandle(fileDescriptor: fd, closeOnDealloc: true)
        var status = stat()
        if fstat(fd, &status) == 0, status.st_mode & S_IFMT == S_IFDIR { return "is a directory, not a file of certificates" }
        let data: Data
        do {
            data = try handle.read(upToCount: maxBytes + 1) ?? Data()
        } catch {
            return "cannot read it (\(error.localizedDescription))"
        }
        if data.count > maxBytes { return "larger than \(maxBytes >> 20) MiB: not a file of certificates" }
        guard data.range(of: Data("-----BEGIN CERTIFICATE-----".utf8)) != nil else {
            return "holds no PEM certificate (a \"-----BEGIN CERTIFICATE-----\" block); "
                + "convert a DER file with: openssl x509 -inform der -in FILE -out FILE.pem"
        }
        return nil
    }
}
