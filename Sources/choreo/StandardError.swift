import Foundation

/// Messages for people go to stderr; stdout carries only results (ids, JSON, exports).
enum StandardError {
    static func print(_ text: String) {
        FileHandle.standardError.write(Data((text.hasSuffix("\n") ? text : text + "\n").utf8))
    }
}
