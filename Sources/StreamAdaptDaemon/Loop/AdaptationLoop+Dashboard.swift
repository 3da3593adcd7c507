import Foundation
import StreamAdaptCore

/// The live page's document (`/api/state`, docs/dashboard.md): built on the loop's thread from the
/// ``DashboardHistory`` and the loop's own figures, about every half second and at the stop.
extension AdaptationLoop {
    func publishDashboard() {
        guard let dashboard, let history = dashboardHistory else { return }
        let now = clock()
        lastDashboard = now
        dashboardSamples.append((now, handled, predictionsPublished))
        if dashboardSamples.count > 11 { dashboardSamples.removeFirst() }  // rates over the last ten builds
        var eventsPerSecond: Double?
        var predictionsPerSecond: Double?
        if let first = dashboardSamples.first, let last = dashboardSamples.last, last.time > first.time {
            let seconds = Double(last.time &- first.time) / 1e9
            eventsPerSecond = Double(last.handled - first.handled) / seconds
            predictionsPerSecond = Double(last.published - first.published) / seconds
        }
        var json = DashboardJSON(reservingCapacity: 64 << 10)
        json.beginObject()
        json.value("schema", "streamadapt-dashboard/1")
        json.value("time_ms", Int(Date().timeIntervalSince1970 * 1000))
        json.value("pipeline", configuration.name)
        json.value("head", model.head.name)
        json.value("mode", configuration.modelMode.rawValue)
        json.value("group", group)
        json.beginArray("classes")
        for (c, name) in classes.names.enumerated() { json.value(nil, model.retired.indices.contains(c) && model.retired[c] ? name + " (retired)" : name) }
        json.endArray()
        json.value("events", history.events)
        json.value("handled", handled)
        json.value("labelled", history.labelled)
        json.value("accuracy", history.labelled > 0 ? Double(history.correct) / Double(history.labelled) : nil)
        json.value("rolling_accuracy", history.labelled > 0 ? rollingAccuracy : nil)
        json.value("threshold", model.scorer?.threshold)

        json.beginObject("series")
        let buckets = history.buckets
        json.value("width", history.width)
        json.values("first", buckets.map(\.first))
        json.values("count", buckets.map(\.count))
        json.values("labelled", buckets.map(\.labelled))
        json.values("correct", buckets.map(\.correct))
        json.values("rolling_accuracy", buckets.map(\.rollingAccuracy))
        json.values("score_max", buckets.map(\.maximumScore))
        json.values("score_mean", buckets.map { $0.scored > 0 ? $0.scoreSum / Double($0.scored) : nil })
        json.values("flagged", buckets.map(\.flagged))
        json.values("threshold", buckets.map(\.threshold))
        json.endObject()

        json.beginArray("alerts")
        for mark in history.alerts {
            json.beginObject()
            json.value("kind", mark.kind)
            json.value("sequence", mark.sequence)
            json.value("state", mark.raised ? "raised" : "cleared")
            json.value("event", mark.event)
            json.value("value", mark.value)
            json.value("threshold", mark.threshold)
            json.value("clear_reason", mark.clearReason)
            json.value("partition", mark.partition)
            json.endObject()
        }
        json.endArray()
        json.beginArray("active_alerts")
        for (partition, alert) in openAlerts {
            json.beginObject()
            json.value("kind", alert.kind.rawValue)
            json.value("sequence", alert.sequence)
            // The event (index above) at which the page saw it raised, if its change is still in the history.
            json.value("raised_event", history.alerts.last(where: {
                $0.raised && $0.kind == alert.kind.rawValue && $0.sequence == alert.sequence && $0.partition == partition
            })?.event)
            json.value("value", alert.value)
            json.value("threshold", alert.threshold)
            json.value("partition", partition)
            json.endObject()
        }
        json.endArray()

        json.beginObject("throughput")
        json.value("events_per_second", eventsPerSecond)
        json.value("predictions_per_second", predictionsPerSecond)
        json.value("predictions", predictionsPublished)
        json.value("consumer_lag", lastLag.map { Int($0) })
        let quantiles = history.latencyQuantiles([0.5, 0.9, 0.99])
        json.value("handle_ms_p50", quantiles?[0])
        json.value("handle_ms_p90", quantiles?[1])
        json.value("handle_ms_p99", quantiles?[2])
        json.endObject()

        let (labelled, correct, confusion) = history.recentClasses(classCount: classes.count)
        json.beginObject("recent_classes")
        json.value("events", history.recentCount)
        json.values("labelled", labelled)
        json.values("correct", correct)
        json.values("recall", zip(correct, labelled).map { $1 > 0 ? Double($0) / Double($1) : nil })
        if let confusion {
            json.beginArray("confusion")
            for row in confusion { json.values(nil, row) }
            json.endArray()
        } else {
            json.value("confusion", nil as Int?)
        }
        json.endObject()

        json.beginObject("model")
        json.value("version", model.head.updateCount)
        json.value("checkpoints", checkpointsWritten)
        json.value("checkpoint_age_seconds", lastCheckpoint.map { Double(now &- $0) / 1e9 })
        json.beginArray("partitions")
        for p in partitions { json.value(nil, Int(p.partition)) }
        json.endArray()
        json.endObject()
        json.endObject()
        dashboard.publish(json.bytes)
    }
}
