/// Reading parts of an OpenAI-shaped chat body, for the wire formats that translate it
/// (`AnthropicWire`, `GeminiWire`).
enum OpenAIBody {
    /// `stop` (a string or an array of them) as a list of stop sequences; nil when absent or of another type.
    static func stopSequences(_ stop: JSONValue?) -> JSONValue? {
        switch stop {
        case .string(let s)?: return [.string(s)]
        case .array(let a)?: return .array(a)
        default: return nil
        }
    }

    /// A tool call's `function.arguments` parsed (`{}` when empty); `n` is the message's index for the error.
    static func arguments(of call: JSONValue, inMessage n: Int) throws -> JSONValue {
        let arguments = call["function"]?["arguments"]?.stringValue ?? ""
        do { return arguments.isEmpty ? [:] : try JSONValue.parse(arguments) } catch {
            throw WireError.invalidRequest("messages[\(n)].tool_calls: the arguments are not JSON (\(error))")
        }
    }

    /// An `image_url` content part's URL (`{"image_url":{"url":…}}`, or a bare string); "" when missing.
    static func imageURL(of part: JSONValue) -> String {
        part["image_url"]?["url"]?.stringValue ?? part["image_url"]?.stringValue ?? ""
    }

    /// The `function` object of a `{"type":"function","function":{name,description,parameters}}` tool;
    /// nil for any other tool.
    static func function(of tool: JSONValue) -> JSONValue? {
        guard tool["type"]?.stringValue == "function" else { return nil }
        return tool["function"]
    }
}
