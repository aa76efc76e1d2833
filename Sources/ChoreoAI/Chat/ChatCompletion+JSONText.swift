/// `ChatCompletion.json`'s compact text, written straight from the fields.
///
/// Every finished job stores this text (its `response`), so it is written once per job: built
/// as a `JSONValue` tree and serialized, it cost ~68,000 instructions a job (4% of a firehose
/// run): a dictionary for every object, the keys sorted at each level, a switch for every
/// value. Written here, ~24,000 (callgrind), most of it the text's escapes.
/// Here the keys are written in the order `JSONValue.write` sorts them into, and the leaves that
/// vary in shape (usage, logprobs, tool calls) go through `JSONValue` as before. The bytes are
/// the same as `json.jsonBytes`' (`ChatCompletionJSONTextTests` holds the two to that).
extension ChatCompletion {
    /// `json.jsonBytes`, without building `json`.
    public var jsonBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(384 + choices.reduce(0) { $0 + ($1.message.content?.utf8.count ?? 0) + ($1.message.reasoning?.utf8.count ?? 0) })
        // Keys in sorted order: choices, created, id, model, object, system_fingerprint, usage.
        out.appendKey("choices", first: true)
        out.append(UInt8(ascii: "["))
        for (i, c) in choices.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            c.writeJSON(to: &out)
        }
        out.append(UInt8(ascii: "]"))
        out.appendKey("created")
        out.append(contentsOf: String(Int64(created)).utf8)
        out.appendMember("id", id)
        out.appendMember("model", model)
        out.appendMember("object", object)
        if let systemFingerprint { out.appendMember("system_fingerprint", systemFingerprint) }
        out.appendKey("usage")
        (usage?.json ?? .null).write(to: &out)
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// `json.jsonString`, without building `json`.
    public var jsonString: String { String(decoding: jsonBytes, as: UTF8.self) }
}

extension ChatCompletion.Choice {
    /// Keys in sorted order: finish_reason, index, logprobs, message.
    fileprivate func writeJSON(to out: inout [UInt8]) {
        out.appendMember("finish_reason", finishReason?.rawValue, first: true)
        out.appendKey("index")
        out.append(contentsOf: String(Int64(index)).utf8)
        out.appendKey("logprobs")
        (logprobs ?? .null).write(to: &out)
        out.appendKey("message")
        message.writeJSON(to: &out)
        out.append(UInt8(ascii: "}"))
    }
}

extension ChatCompletion.Message {
    /// Keys in sorted order: content, reasoning_content, reasoning_signature, refusal, role, tool_calls.
    fileprivate func writeJSON(to out: inout [UInt8]) {
        out.appendMember("content", content, first: true)
        if let reasoning { out.appendMember("reasoning_content", reasoning) }
        if let reasoningSignature { out.appendMember("reasoning_signature", reasoningSignature) }
        out.appendMember("refusal", refusal)
        out.appendMember("role", role.rawValue)
        if let toolCalls, !toolCalls.isEmpty {
            out.appendKey("tool_calls")
            JSONValue.array(toolCalls.map(\.json)).write(to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }
}

extension [UInt8] {
    /// `{"key":` for an object's first member, `,"key":` for the others. Keys here need no escapes.
    fileprivate mutating func appendKey(_ key: StaticString, first: Bool = false) {
        append(UInt8(ascii: first ? "{" : ","))
        append(UInt8(ascii: "\""))
        append(contentsOf: UnsafeBufferPointer(start: key.utf8Start, count: key.utf8CodeUnitCount))
        append(UInt8(ascii: "\""))
        append(UInt8(ascii: ":"))
    }

    /// The member `key` with the string `value`, or `null` when it is nil.
    fileprivate mutating func appendMember(_ key: StaticString, _ value: String?, first: Bool = false) {
        appendKey(key, first: first)
        if let value { JSONValue.writeString(value, to: &self) } else { append(contentsOf: "null".utf8) }
    }
}
