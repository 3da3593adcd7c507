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
/// whose prediction uses statistics across classes (the Tip cache's spread of the affinities and of the
/// base logits, its weight selection) leaves the class out of them. The default does nothing.
public protocol ClassGrowingHead: AdapterHead {
    func appendClass(from classes: ClassEmbeddings)
    func retireClass(_ c: Int)
}

extension ClassGrowingHead {
    public func retireClass(_ c: Int) {}
}
