import ChoreoAI

/// A Responses body (`url: "/v1/responses"`), checked as the Responses API checks it, so a line
/// it would refuse is refused at submit with its line and field.
extension JobLineValidator {
    /// Roles of a message item in `input` (`EasyInputMessage`).
    static let responsesRoles = ["user", "assistant", "system", "developer"]
    /// The Responses API's lower bound on `max_output_tokens` (a smaller value is a 400).
    static let minOutputTokens = 16

    /// A model whose provider has the Responses API, an `input` (a non-empty string, or a
    /// non-empty array of items: messages with a known role and string or part-list content, or
    /// other typed items), well-typed `instructions`, `max_output_tokens`, `tools` (flat function
    /// tools) and sampling fields, and no parameter the Responses API does not know.
    func checkResponses(_ body: [String: JSONValue], model: String, prefix: String,
                        fail: (String?, String, String) -> JobLineError) throws {
        let provider = try route(model, path: prefix + "model", fail: fail)
        let kind = provider?.kind ?? .openAI
        guard kind.responsesWire != nil else {
            throw fail(prefix + "model", "unsupported_endpoint",
                       "\(JSONValue.quoted(model)) routes to \(provider?.name ?? kind.rawValue), which has no Responses API (/v1/responses); "
                       + "send it as a /v1/chat/completions line, or use an OpenAI model")
        }
        if body["messages"] != nil {
            throw fail(prefix + "messages", "unknown_parameter",
                       "a /v1/responses body takes \"input\" (and \"instructions\"), not \"messages\"; or make the line a /v1/chat/completions one")
        }
        try checkInput(body["input"], path: prefix + "input", fail: fail)
        for key in body.keys.sorted() {
            let v = body[key]!
            if v.isNull { continue }
            let path = prefix + key
            switch key {
            case "instructions", "previous_response_id", "user":
                guard v.stringValue != nil else { throw fail(path, "invalid_type", "expected a string, found \(v.typeName)") }
            case "max_output_tokens", "max_tool_calls", "top_logprobs":
                guard let n = v.intValue else { throw fail(path, "invalid_type", "expected an integer, found \(v.typeName)") }
                let least = key == "max_output_tokens" ? Self.minOutputTokens : key == "max_tool_calls" ? 1 : 0
                guard n >= least else { throw fail(path, "invalid_value", "\(key) must be at least \(least), found \(n)") }
            case "temperature", "top_p":
                guard v.doubleValue != nil else { throw fail(path, "invalid_type", "expected a number, found \(v.typeName)") }
            case "parallel_tool_calls", "store", "background", "stream":
                guard v.boolValue != nil else { throw fail(path, "invalid_type", "expected a boolean, found \(v.typeName)") }
            case "reasoning", "text", "stream_options", "prompt":
                guard v.objectValue != nil else { throw fail(path, "invalid_type", "expected an object, found \(v.typeName)") }
            case "include":
                guard let a = v.arrayValue, a.allSatisfy({ $0.stringValue != nil }) else {
                    throw fail(path, "invalid_type", "expected an array of strings, found \(v.typeName)")
                }
            case "tools":
                try checkResponsesTools(v, path: path, fail: fail)
            default:
                break
            }
        }
        try checkParameters(body, provider: provider, prefix: prefix, endpoint: .responses, fail: fail)
    }

    private func checkInput(_ value: JSONValue?, path: String, fail: (String?, String, String) -> JobLineError) throws {
        switch value {
        case nil:
            throw fail(path, "missing_required_parameter", "a Responses request needs \"input\" (a string or an array of input items)")
        case .string(let s)?:
            guard !s.isEmpty else { throw fail(path, "invalid_value", "input must not be an empty string") }
        case .array(let items)?:
            guard !items.isEmpty else { throw fail(path, "invalid_value", "input must not be an empty array") }
            for (i, item) in items.enumerated() {
                let here = "\(path)[\(i)]"
                guard case .object(let o) = item else { throw fail(here, "invalid_type", "expected an object, found \(item.typeName)") }
                let type = o["type"]
                if let type, type.stringValue == nil { throw fail(here + ".type", "invalid_type", "expected a string, found \(type.typeName)") }
                // A message item (`type` "message" or absent) has a role and content; other items
                // (function_call_output, item_reference, reasoning, …) are the API's to read.
                guard type == nil || type?.stringValue == "message" else { continue }
                guard let role = o["role"] else {
                    throw fail(here + ".role", "missing_required_parameter", "a message item needs a \"role\" (or give the item a \"type\")")
                }
                guard let name = role.stringValue else { throw fail(here + ".role", "invalid_type", "expected a string, found \(role.typeName)") }
                guard Self.responsesRoles.contains(name) else {
                    let hint = Spelling.hint(for: name, among: Self.responsesRoles)
                    throw fail(here + ".role", "invalid_value", "unknown role \(JSONValue.quoted(name))\(hint)")
                }
                switch o["content"] {
                case .string?, .array?: break
                case nil: throw fail(here + ".content", "missing_required_parameter", "a \(name) message needs \"content\"")
                case let other?: throw fail(here + ".content", "invalid_type", "expected a string or an array of parts, found \(other.typeName)")
                }
            }
        case let other?:
            throw fail(path, "invalid_type", "expected a string or an array of input items, found \(other.typeName)")
        }
    }

    /// Responses tools are flat (`{"type": "function", "name", "parameters"}`); a chat-shaped one
    /// (`{"type": "function", "function": {"name", …}}`) is the usual mistake, and is named.
    private func checkResponsesTools(_ value: JSONValue, path: String, fail: (String?, String, String) -> JobLineError) throws {
        guard let tools = value.arrayValue else { throw fail(path, "invalid_type", "expected an array, found \(value.typeName)") }
        for (i, tool) in tools.enumerated() {
            let here = "\(path)[\(i)]"
            guard case .object(let o) = tool else { throw fail(here, "invalid_type", "expected an object, found \(tool.typeName)") }
            guard let type = o["type"]?.stringValue else {
                throw fail(here + ".type", "missing_required_parameter", "a tool needs a \"type\" (\"function\", \"web_search\", …)")
            }
            guard type == "function" else { continue }
            if o["function"] != nil && o["name"] == nil {
                throw fail(here + ".function", "invalid_value",
                           "Responses function tools are flat: {\"type\":\"function\",\"name\":…,\"parameters\":…}, not the chat shape with \"function\"")
            }
            guard o["name"]?.stringValue?.isEmpty == false else {
                throw fail(here + ".name", "missing_required_parameter", "a function tool needs a \"name\"")
            }
        }
    }
}
