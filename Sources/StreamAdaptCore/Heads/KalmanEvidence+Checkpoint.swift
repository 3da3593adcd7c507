extension KalmanEvidence {
    /// Writes the record: D, C, the forgetting and its unit, the event count, the times, then
    /// scale * information (upper triangle) and scale * projection.
    public func save(to writer: inout CheckpointWriter) {
        normalize()
        writer.writeSection("kalman-evidence")
        writer.writeInt(dimension)
        writer.writeInt(classCount)
        writer.writeDouble(forgetting)
        writer.writeString(unit.rawValue)
        writer.writeInt(count)
        writer.writeOptionalDouble(latestTime)
        writer.writeOptionalDouble(firstTime)
        writer.writeUpperTriangle(information)
        writer.writeMatrix(projection)
    }

    /// Reads a record written by ``save(to:)`` into this one (same shape and forgetting); nothing changes
    /// unless all of it reads.
    public func prepareRestore(from reader: inout CheckpointReader) throws(CheckpointError) -> CheckpointCommit {
        try reader.expectSection("kalman-evidence")
        try reader.expectShape(dimension, field: "evidence.dimension")
        try reader.expectShape(classCount, field: "evidence.classCount")
        try reader.expectSetting(forgetting, field: "evidence.forgetting")
        let storedUnit = try reader.readString()
        guard storedUnit == unit.rawValue else { throw .configuration("evidence.forgettingUnit", expected: unit.rawValue, found: storedUnit) }
        let storedCount = try reader.readInt()
        let storedLatest = try reader.readOptionalDouble()
        let storedFirst = try reader.readOptionalDouble()
        let storedInformation = try reader.readUpperTriangle(dimension: dimension, field: "evidence.information")
        let storedProjection = try reader.readMatrix(like: projection, field: "evidence.projection")
        guard storedCount >= 0 else { throw .corrupt("evidence.count", "negative event count \(storedCount)") }
        guard (storedInformation + storedProjection).allSatisfy(\.isFinite) else {
            throw .corrupt("evidence", "non-finite values")
        }
        return CheckpointCommit { [self] in
            pending = 0
            self.storedInformation.assignUpperTriangle(storedInformation)
            self.storedProjection.assign(storedProjection)
            scale = 1
            count = storedCount
            latestTime = storedLatest
            firstTime = storedFirst
        }
    }
}
