/// Results of a `DispatchQueue.concurrentPerform`, one per iteration.
///
/// One slot per index, each written once by the one iteration that owns it: distinct memory, so no
/// lock; `concurrentPerform` returning orders every write before ``take()``.
final class ResultSlots<Value, Failure: Error>: @unchecked Sendable {
    private let slots: UnsafeMutableBufferPointer<Result<Value, Failure>?>

    init(count: Int) {
        slots = .allocate(capacity: count)
        slots.initialize(repeating: nil)
    }

    deinit {
        slots.deinitialize()
        slots.deallocate()
    }

    func set(_ index: Int, _ value: Result<Value, Failure>) { slots[index] = value }

    /// The values, moved out (once, after every write).
    func take() -> [Result<Value, Failure>] {
        let values = (0..<slots.count).map { (slots.baseAddress! + $0).move()! }
        slots.initialize(repeating: nil)
        return values
    }
}
