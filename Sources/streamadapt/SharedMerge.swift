import StreamAdaptCore

/// `eval --model-mode shared`: the merges of a consumer group's shared model, simulated in one process.
/// Partition p belongs to member p mod M. Each partition's head records its evidence (cumulative); at a
/// merge each member in turn folds the prior with its own partitions' current evidence and the others'
/// as last published (a member earlier in the turn has published this round, a later one not: the
/// staleness of reading other members' snapshots from the state topic), gives the posterior to its
/// partitions' heads, then publishes its own evidence.
final class SharedMerge {
    let heads: [KalmanHead]
    let members: Int
    let classes: ClassEmbeddings
    /// Per partition: its evidence as last published.
    let published: [KalmanEvidence]
    private(set) var folds = 0

    init(heads: [KalmanHead], members: Int, classes: ClassEmbeddings) throws {
        self.heads = heads
        self.members = members
        self.classes = classes
        for head in heads { head.evidence = KalmanEvidence(for: head) }
        published = heads.map { KalmanEvidence(for: $0) }
    }

    func merge() throws {
        for m in 0..<members {
            let own = heads.indices.filter { $0 % members == m }
            let parts = heads.indices.map { own.contains($0) ? heads[$0].evidence! : published[$0] }
            guard let first = own.first else { continue }
            try KalmanEvidence.fold(parts, into: heads[first], classes: classes)
            for p in own.dropFirst() { heads[p].adoptPosterior(of: heads[first]) }
            for p in own { published[p].copy(from: heads[p].evidence!) }
            folds += 1
        }
    }
}
