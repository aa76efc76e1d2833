package import Synchronization

/// The rule AHC puts on its response body (`SingleIteratorPrecondition.swift`): a sequence whose
/// elements are consumed as they are read gives out one iterator. A second one would take bytes
/// or chunks the first never sees, and the two would race for the end, so it stops the process
/// with a message naming the sequence instead of splitting a response silently. `made` is the
/// sequence's flag, shared by its copies.
package func preconditionFirstIterator(_ made: borrowing Atomic<Bool>, of sequence: StaticString,
                                       file: StaticString = #fileID, line: UInt = #line) {
    if _slowPath(made.exchange(true, ordering: .relaxed)) {
        preconditionFailure("\(sequence).makeAsyncIterator() was called a second time: its elements are consumed as they are read, by one consumer; iterate it once, from one task",
                            file: file, line: line)
    }
}
