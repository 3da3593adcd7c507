extension TipAdapterHead: ClassGrowingHead {
    /// Appends a class with an empty cache: T gets the row t^ (the zero-shot term, when the head has
    /// one), the cache K more (empty) slots at the end (slot c K + i stays class c's i-th key), and the
    /// per-class counters a 0. With Tip-X the class signatures s(F_j) = softmax(F_j T' / tau_s) of the
    /// cached keys are recomputed over the C + 1 classes, as a head built with C + 1 classes would hold
    /// them: O(C K C D) once.
    public func appendClass(from classes: ClassEmbeddings) {
        precondition(classes.count == classCount + 1 && classes.dimension == dimension)
        let t = UnsafePointer(classes.normalized.row(classCount))
        let d = dimension
        let k = configuration.shotsPerClass
        let grownClasses = self.classes.appendingRows(1)
        grownClasses.row(classCount).update(from: t, count: d)
        self.classes = grownClasses
        keys = keys.appendingRows(k)
        classCount += 1
        filled.append(0)
        retired.append(false)
        seen.append(0)
        nextSlot.append(0)
        let slots = classCount * k
        affinity = Matrix(rows: slots, columns: 1)
        klAffinity = Matrix(rows: slots, columns: 1)
        signature = Matrix(rows: classCount, columns: 1)
        base = Matrix(rows: classCount, columns: 1)
        term = Matrix(rows: classCount, columns: 1)
        if configuration.tipXWeight > 0 {
            keyLogSignatures = Matrix(rows: slots, columns: classCount)
            recomputeKeySignatures()
        } else {
            keyLogSignatures = Matrix(rows: 0, columns: classCount)
        }
    }

    /// Leaves class `c` out of the cross-class statistics from now on: its keys out of the affinities'
    /// max, mean and sd and the Tip-X range, its base logit out of sd_c(z0), the class out of the
    /// weight selection's argmax and of the Tip-X class signatures (the cached keys' are recomputed:
    /// O(C K C D) once). Its keys stay in the cache (and in checkpoints). Not checkpointed
    /// here: the model's class set carries the retired flags and restores call this again.
    public func retireClass(_ c: Int) {
        precondition(c >= 0 && c < classCount)
        guard !retired[c] else { return }
        retired[c] = true
        if configuration.tipXWeight > 0 { recomputeKeySignatures() }  // over the active classes
    }

    /// Tip-X: the cached keys' class signatures, over the active classes. O(C K C D).
    func recomputeKeySignatures() {
        let k = configuration.shotsPerClass
        for c in 0..<classCount {
            for i in 0..<filled[c] {
                writeLogSignature(of: keys.row(c * k + i), into: keyLogSignatures.row(c * k + i))
            }
        }
    }
}
