import StreamAdaptCore
import StreamAdaptKafka

/// An input event taken into the loop's ``AdaptationLoop/batch``, waiting for the batch to be processed:
/// what its outputs and bookkeeping need besides the model's results.
struct PendingEvent {
    /// Valid until the poll that handed it over returns; the batch is always processed before that.
    var message: KafkaMessage
    var topic: String
    var id: String
    /// The event's timestamp, else the message's.
    var timestamp: Int64?
    /// Whether its embedding goes to the label cache (unlabelled, with a labels topic): row i of
    /// ``AdaptationLoop/pendingEmbeddings``.
    var cachesEmbedding: Bool
    /// When its decode started (``monotonicNanoseconds()``), for the latency metric.
    var start: UInt64
}

/// Processing the events taken from a poll batch as one ``EventBatch`` (in blocks of up to
/// `model.maxBlock` events), then finishing each one in order as the per-event path did.
extension AdaptationLoop {
    /// Processes the pending events (``StreamModel/process(_:)``), then for each in order: the recent
    /// inputs, the observer, the metrics, the label cache, the prediction and the alerts the event
    /// raised or cleared (each with the model version right after that event), and the message's
    /// bookkeeping (``finished(_:_:start:)``). (A poll too small for a block reaches it one event at a
    /// time: see ``handle(_:)``.) Called when the batch is full, before a late label or a
    /// dead letter, and at the end of every poll batch, so nothing is pending between polls (nor at a
    /// checkpoint or a stop).
    func processBatch() throws {
        guard batch.count > 0 else { return }
        defer {
            batch.removeAll()
            pending.removeAll(keepingCapacity: true)
        }
        model.process(batch)
        for i in 0..<batch.count { try finishEvent(i) }
    }

    /// The outputs and bookkeeping of event i of the processed batch.
    private func finishEvent(_ i: Int) throws {
        let dimension = classes.dimension
        let event = pending[i]
        let result = batch.results[i]
        let version = batch.modelVersions[i]
        recentInputs.append(partition: event.message.partition, offset: event.message.offset)
        observer?(result)
        if result.updated { metrics.updates.increment() }
        if result.drifting { metrics.driftFlags.increment() }
        if let d2 = result.mahalanobis2 { metrics.driftScore.record(d2) }
        if let correct = result.correct { recordCorrect(correct) }
        dashboardHistory?.record(
            result, label: batch.label(i), rollingAccuracy: result.correct == nil ? nil : rollingAccuracy,
            threshold: model.scorer?.threshold)
        if event.cachesEmbedding {
            pendingEmbeddings.withUnsafeBufferPointer {
                labelCache.insert(
                    id: event.id, embedding: UnsafeBufferPointer(rebasing: $0[(i * dimension)..<((i + 1) * dimension)]),
                    predicted: result.index)
            }
        }
        try publishPrediction(event, result, probabilities: batch.probabilities.row(i), modelVersion: version)
        for change in batch.alertChanges[i] { try publishAlert(change, modelVersion: version) }
        finished(event.topic, event.message, start: event.start)
    }

    /// Messages taken since the loop was built: handled, or pending in the batch (and so handled before
    /// the loop stops or polls again).
    var taken: Int { handled + pending.count }

    /// The bookkeeping of a message whose outputs are published (or that failed): its next offset, the
    /// `handled` hook and count, checkpoint pacing and its latency since `start`.
    func finished(_ topic: String, _ message: KafkaMessage, start: UInt64) {
        let position = TopicPartition(topic: topic, partition: message.partition)
        nextOffsets[position] = message.offset + 1
        hooks.handled?(position, message.offset)
        handled += 1
        eventsSinceCheckpoint += 1
        let elapsed = monotonicNanoseconds() &- start
        metrics.latency.recordNanoseconds(Int64(elapsed))
        if recordsLatencies { latencies.append(elapsed) }
        dashboardHistory?.recordLatency(elapsed)
    }
}
