/// A head that can take a new class at run time (`docs/classes.md`).
///
/// ``appendClass(from:)`` appends class `classCount` (the index of every existing class is unchanged):
/// `classes` is the model's class set with the new class as its last row (C + 1 rows, the first C
/// those the head holds). The new class is initialised as the head's constructor initialises a class
/// from its embedding, and everything learned for the other classes stays as it is. It allocates (the
/// class-sized state and scratch are reallocated once), so it is called between events, never inside
/// a block (``BlockedHead``); the next event may be predicted right after it.
///
/// ``retireClass(_:)`` tells the head that class `c` is retired: the model masks its logit, and a head
/// that computes across classes leaves the class out (the Kalman observation's level, softmax and
/// noise; the Tip cache's statistics and Tip-X signatures; CLIPood's training softmax) and stops
/// updating its row. The default does nothing (the zero-shot head learns nothing).
public protocol ClassGrowingHead: AdapterHead {
    func appendClass(from classes: ClassEmbeddings)
    func retireClass(_ c: Int)
}

extension ClassGrowingHead {
    public func retireClass(_ c: Int) {}
}
