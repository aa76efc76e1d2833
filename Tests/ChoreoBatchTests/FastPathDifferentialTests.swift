import ChoreoAI
import ChoreoMock
import Testing
@testable import ChoreoBatch

/// What a validation stores, or the error it reports: every field, so two results that would
/// store different bytes or say different things differ here.
private func stored(_ result: Result<ValidatedJob, JobLineError>) -> String {
    switch result {
    case .success(let j):
        return "ok line=\(j.line) id=\(j.customID) model=\(j.model) url=\(j.endpoint.rawValue) request=\(j.requestText) "
            + "metadata=\(j.metadata ?? "nil") priority=\(j.priority.map(String.init) ?? "nil") timeout=\(j.timeout.map { "\($0)" } ?? "nil")"
    case .failure(let e):
        return "error \(e.line) \(e.field ?? "-") \(e.code): \(e.message)"
    }
}

/// The validators the corpus runs through: the default routes (OpenAI, Anthropic and Gemini
/// models), and `--allow-unknown-params`.
private let validators = [JobLineValidator(), JobLineValidator(allowUnknownParams: true)]

/// Why the scan and the full validator disagree on `bytes`, or nil when they agree: when the scan
/// accepts a line, the full validator accepts it too and stores the same bytes; whatever the scan
/// leaves, `validate` answers exactly as the full validator does.
private func disagreement(_ bytes: [UInt8], _ validator: JobLineValidator) -> String? {
    let full = stored(validator.validateFully(line: 7, bytes: bytes))
    let combined = stored(validator.validate(line: 7, bytes: bytes))
    if let scanned = validator.validatedByScan(line: 7, bytes: bytes), stored(.success(scanned)) != full {
        return "the scan stores \(stored(.success(scanned))), the full validator says \(full)"
    }
    return combined == full ? nil : "validate says \(combined), the full validator \(full)"
}

private func takenByScan(_ line: String, _ validator: JobLineValidator = JobLineValidator()) -> Bool {
    validator.validatedByScan(line: 7, bytes: Array(line.utf8)) != nil
}

/// Lines the scan must take (and store as the full validator does).
private let commonLines: [String] = [
    #"{"custom_id":"job-0000001","model":"gpt-4o-mini","messages":[{"role":"user","content":"Write a short poem about the number 1."}],"max_tokens":256}"#,
    #"{"custom_id":"job-0000002","model":"gpt-4o-mini","messages":[{"role":"user","content":"Write a short poem about the number 2."}]}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"no custom_id"}]}"#,
    #"{"model":"gpt-4o","custom_id":"not-first","messages":[{"role":"user","content":"hi"}],"temperature":0.2}"#,
    #"{"custom_id":"a","method":"POST","url":"/v1/chat/completions","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}]}}"#,
    #"{"custom_id":"b","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"max_tokens":8}}"#,
    #"{"custom_id":"c","body":{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello"}],"max_tokens":8,"stream":true,"stream_options":{"include_usage":true}}}"#,
    #"{"custom_id":"d","model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":false}"#,
    #" { "custom_id" : "w" , "model" : "gpt-4o" , "messages" : [ { "role" : "user" , "content" : "spaced" } ] } "#,
    #"{"custom_id":"w2","method":"POST","body": { "model" : "gpt-4o", "messages":[ {"content":"x" , "role":"user"} ] } }"#,
    #"{"custom_id":"esc","model":"gpt-4o","messages":[{"role":"user","content":"line1\nline2 \"quoted\" back\\slash\ttab\r"}]}"#,
    #"{"custom_id":"esc2","model":"gpt-4o","messages":[{"role":"user","content":"\/ \b \f \u00e9 \u0001 \u001F \ud83d\ude00 \u0000 end"}]}"#,
    #"{"custom_id":"esc3","body":{"model":"gpt-4o","messages":[{"role":"user","content":"\u00e9"}],"stream":true}}"#,
    #"{"custom_id":"Réponds","model":"gpt-4o","messages":[{"role":"system","content":"Réponds en français 😀."},{"role":"user","content":"Ça va ?"}]}"#,
    #"{"custom_id":"caf\u00e9","model":"gpt\u002d4o","messages":[{"role":"user","content":"escaped id and model"}]}"#,
    #"{"custom_id":"turns","model":"gpt-4o","messages":[{"role":"system","content":"s"},{"role":"user","content":"u","name":"ann"},{"role":"assistant","content":null,"tool_calls":[{"id":"t1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"t1","content":"42"},{"role":"assistant","tool_calls":[]},{"role":"developer","content":"d"},{"role":"function","name":"f","content":"r"}]}"#,
    #"{"custom_id":"parts","model":"gpt-4o","messages":[{"role":"user","content":[{"type":"text","text":"hi"},{"type":"image_url","image_url":{"url":"https://x/y.png","detail":"low"}}]}]}"#,
    #"{"custom_id":"tools","model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"get","parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}}],"tool_choice":"auto","response_format":{"type":"json_schema","json_schema":{"name":"r","schema":{"type":"object"}}}}"#,
    #"{"custom_id":"nums","model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.70,"top_p":1e-1,"max_tokens":5.0,"seed":-0,"frequency_penalty":-2,"presence_penalty":1E+0,"n":1}"#,
    #"{"custom_id":"big","model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"seed":9007199254740993,"logit_bias":{"50256":-100}}"#,
    #"{"custom_id":"sorted","top_p":0.5,"temperature":0.1,"max_completion_tokens":9,"model":"gpt-4o","n":1,"messages":[{"content":"c","role":"user"}],"logprobs":true,"user":"u"}"#,
    #"{"custom_id":"m1","metadata":{"team":"a","n":1},"body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}}"#,
    #"{"custom_id":"m2","body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"metadata":{"b":"2","a":"1"}}}"#,
    #"{"custom_id":"m3","model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"metadata":{"k":"v"}}"#,
    #"{"custom_id":"m4","model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"metadata":null}"#,
    #"{"custom_id":"p1","priority":5,"timeout":30.5,"body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}}"#,
    #"{"custom_id":"p2","priority":null,"timeout":null,"body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}}"#,
    #"{"custom_id":"p3","priority":-2.0,"timeout":86400,"body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}}"#,
    #"{"custom_id":"claude","model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}],"max_tokens":100,"stop":["x"],"n":1,"user":"u"}"#,
    #"{"custom_id":"gem","model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}],"temperature":0.3,"max_tokens":64,"safetySettings":[]}"#,
    #"{"custom_id":"xb","model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"extra_body":{"brand_new":1},"mock":{"fault":"none"}}"#,
    #"{"custom_id":"stop","model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stop":"END","max_tokens":null,"tools":null}"#,
]

/// Lines the scan must leave to the full validator: every one is refused, or is of a shape the
/// scan does not read (another endpoint, an escaped key or role).
private let otherLines: [String] = [
    // Repeated keys, at each level and inside values the parser reads.
    #"{"custom_id":"a","custom_id":"b","model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
    #"{"custom_id":"a","model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"model":"gpt-4o"}"#,
    #"{"custom_id":"a","body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":1,"max_tokens":2}}"#,
    #"{"custom_id":"a","model":"gpt-4o","messages":[{"role":"user","content":"hi","role":"user"}]}"#,
    #"{"custom_id":"a","model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","type":"function"}]}"#,
    #"{"custom_id":"a","model":"gpt-4o","mod\u0065l":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
    #"{"custom_id":"a","model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"K":1,"K":2}"#,
    #"{"custom_id":"a","model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"modèl":1}"#,
    "{\"custom_id\":\"a\",\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}],\"K\":1,\"\u{212A}\":2}",  // KELVIN SIGN is K
    // Unknown parameters and fields, and settings in the wrong place.
    #"{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hi"}],"max_tokenz":5}"#,
    #"{"custom_id":"a","body":{"model":"claude-sonnet-4-5","messages":[{"role":"user","content":"Hi"}],"temprature":1}}"#,
    #"{"custom_id":"a","bdy":{},"body":{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}}"#,
    #"{"custom_id":"a","model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"priority":3}"#,
    #"{"custom_id":"a","body":{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}],"timeout":3}}"#,
    #"{"custom_id":"a","model":"gpt-4o","body":{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}}"#,
    #"{"custom_id":"a","model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}],"seed":3}"#,
    #"{"custom_id":"a","model":"claude-sonnet-4-5","messages":[{"role":"user","content":"hi"}],"n":2}"#,
    #"{"custom_id":"a","model":"gemini-2.5-flash","messages":[{"role":"user","content":"hi"}],"logprobs":true}"#,
    #"{"custom_id":"a","model":"gemni-2.5-flash","messages":[{"role":"user","content":"hi"}]}"#,
    // Roles and messages.
    #"{"model":"gpt-4o","messages":[{"role":"usr","content":"Hi"}]}"#,
    #"{"model":"gpt-4o","messages":[{"role":"User","content":"Hi"}]}"#,
    #"{"model":"gpt-4o","messages":[{"role":"us\u0065r","content":"escaped but valid"}]}"#,
    #"{"model":"gpt-4o","messages":[{"role":5,"content":"Hi"}]}"#,
    #"{"model":"gpt-4o","messages":[{"content":"no role"}]}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user"}]}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":5}]}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":{"text":"x"}}]}"#,
    #"{"model":"gpt-4o","messages":[]}"#,
    #"{"model":"gpt-4o","messages":{}}"#,
    #"{"model":"gpt-4o","messages":null}"#,
    #"{"model":"gpt-4o","messages":["hi"]}"#,
    #"{"model":"gpt-4o","messages":[{}]}"#,
    #"{"model":"gpt-4o"}"#,
    // Values of the wrong type or out of range.
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":1e999}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":-1e999}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":1e300}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"seed":12345678901234567890}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":0}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":-1}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":"hot"}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stream":"yes"}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"stop":[1]}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"tools":{}}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"extra_body":"x"}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"metadata":"x"}"#,
    #"{"custom_id":"a","metadata":[1],"body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}}"#,
    #"{"custom_id":"a","priority":2000000,"body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}}"#,
    #"{"custom_id":"a","priority":1.5,"body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}}"#,
    #"{"custom_id":"a","timeout":0,"body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}}"#,
    #"{"custom_id":"","model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
    #"{"custom_id":7,"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}"#,
    #"{"model":"","messages":[{"role":"user","content":"hi"}]}"#,
    #"{"model":7,"messages":[{"role":"user","content":"hi"}]}"#,
    #"{"model":"gpt 4o#frag","messages":[{"role":"user","content":"hi"}]}"#,
    #"{"custom_id":"a","body":"x"}"#,
    #"{"custom_id":"a","body":null}"#,
    #"{"custom_id":"a","method":"GET","body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}}"#,
    #"{"custom_id":"a","url":"/v1/completions","body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}}"#,
    // Other endpoints: the full validator's.
    #"{"custom_id":"r","url":"/v1/responses","body":{"model":"gpt-4o","input":"hi","max_output_tokens":32}}"#,
    #"{"custom_id":"r","url":"/v1/responses","body":{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]}}"#,
    #"{"custom_id":"e","url":"/v1/embeddings","body":{"model":"text-embedding-3-small","input":["a","b"]}}"#,
    #"{"custom_id":"e","url":"/v1/embeddings","body":{"model":"text-embedding-3-small","input":[]}}"#,
    // Not JSON, or not the JSON the parser takes.
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}]} x"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":01}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":-}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"max_tokens":1.}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"logprobs":tru}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"bad \x escape"}]}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"lone \ud800 high"}]}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"lone \udc00 low"}]}"#,
    #"{"model":"gpt-4o","messages":[{"role":"user","content":"short \u12"}]}"#,
    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"tab\traw\"}]}",
    "{\"model\":\"gpt-4o\",\"messages\":[{\"role\":\"user\",\"content\":\"nul \u{0} raw\"}]}",
    #"["model"]"#,
    #""just a string""#,
    "{}",
    "",
]

/// Lines whose bytes a Swift string literal cannot hold: invalid UTF-8, and nesting around the
/// parser's depth limit.
private let rawLines: [[UInt8]] = [
    Array(#"{"model":"gpt-4o","messages":[{"role":"user","content":"bad "#.utf8) + [0xC3, 0x28] + Array(#""}]}"#.utf8),
    Array(#"{"model":"gpt-4o","messages":[{"role":"user","content":"cut "#.utf8) + [0xE2, 0x84] + Array(#""}]}"#.utf8),
    Array((#"{"model":"gpt-4o","messages":[{"role":"user","content":"# + String(repeating: "[", count: 300) + String(repeating: "]", count: 300) + "}]}").utf8),
    Array((#"{"model":"gpt-4o","messages":[{"role":"user","content":"# + String(repeating: "[", count: 600) + String(repeating: "]", count: 600) + "}]}").utf8),
    Array((#"{"model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"metadata":{"a":"# + String(repeating: "[", count: 509) + String(repeating: "]", count: 509) + "}}").utf8),
]

/// Pieces the mutations splice in: JSON's punctuation, escapes, numbers at the edges, and
/// members that change what a line means.
private let splices: [String] = [
    "\"", "\\", ",", ":", "{", "}", "[", "]", " ", "0", "-", "e", ".", "n", "\u{7F}", "é", "\t",
    "1e999", "\\u00e9", "\\ud800", "\\/", "\\n", "null", "true", "9007199254740993", "-0.0",
    #""stream":true,"#, #""n":2,"#, #""role":"user","#, #""content":null,"#, #""model":"claude-sonnet-4-5","#,
    #""custom_id":"x","#, #""url":"/v1/responses","#, #""body":{},"#, #""metadata":{"a":1},"#, #""priority":1,"#,
    #""seed":3,"#, #""max_tokens":0,"#, #""extra_body":[],"#, #""tools":[{"a":1,"a":2}],"#,
]

@Suite("The job-line scan agrees with the full validator")
struct FastPathDifferentialTests {
    @Test func commonLinesAreTakenByTheScanAndStoredAsTheFullValidatorStoresThem() {
        for line in commonLines {
            #expect(takenByScan(line), "\(line)")
            for validator in validators {
                #expect(disagreement(Array(line.utf8), validator) == nil, "\(line)")
            }
        }
    }

    @Test func refusedAndOtherLinesAreLeftToTheFullValidatorWithTheSameErrors() {
        for line in otherLines {
            #expect(!takenByScan(line), "\(line)")
            for validator in validators {
                #expect(disagreement(Array(line.utf8), validator) == nil, "\(line)")
            }
        }
        for bytes in rawLines {
            for validator in validators {
                #expect(disagreement(bytes, validator) == nil, "\(String(decoding: bytes.prefix(80), as: UTF8.self))")
            }
        }
    }

    @Test func anUnknownParameterTheFlagLetsThroughIsTakenByTheScan() {
        let line = #"{"custom_id":"u","model":"gpt-4o","messages":[{"role":"user","content":"hi"}],"brand_new":{"x":[1,2]}}"#
        #expect(!takenByScan(line))
        #expect(takenByScan(line, JobLineValidator(allowUnknownParams: true)))
        #expect(disagreement(Array(line.utf8), JobLineValidator(allowUnknownParams: true)) == nil)
    }

    @Test func mutatedLinesGetTheSameAnswerFromBothPaths() {
        var rng = MockRandom(seed: 20)  // deterministic: a failure comes back on every run
        var taken = 0
        var refused = 0
        for seed in commonLines {
            for _ in 0..<150 {
                var bytes = Array(seed.utf8)
                for _ in 0..<Int.random(in: 1...3, using: &rng) {
                    let at = Int.random(in: 0...bytes.count, using: &rng)
                    switch Int.random(in: 0..<4, using: &rng) {
                    case 0 where at < bytes.count: bytes.remove(at: at)
                    case 1 where at < bytes.count: bytes[at] = UInt8.random(in: 0x20...0x7E, using: &rng)
                    case 2 where at < bytes.count:
                        let end = min(bytes.count, at + Int.random(in: 1...12, using: &rng))
                        bytes.insert(contentsOf: bytes[at..<end], at: at)
                    default: bytes.insert(contentsOf: Array(splices.randomElement(using: &rng)!.utf8), at: at)
                    }
                }
                for validator in validators {
                    if let problem = disagreement(bytes, validator) {
                        Issue.record("\(String(decoding: bytes, as: UTF8.self)): \(problem)")
                    }
                }
                if JobLineValidator().validatedByScan(line: 7, bytes: bytes) != nil { taken += 1 }
                if case .failure = JobLineValidator().validateFully(line: 7, bytes: bytes) { refused += 1 }
            }
        }
        // The mutants exercise both sides: some the scan takes, many the validator refuses.
        #expect(taken > 200 && refused > 1000, "taken \(taken), refused \(refused)")
    }
}
