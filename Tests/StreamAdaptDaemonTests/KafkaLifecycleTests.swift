import Testing

/// The loop's Kafka lifecycle against the embedded broker, in process: starting before the broker,
/// offset gaps (stored offset past the end, input lost to retention), an outage with outputs in flight,
/// and a stop during an outage. One serialized suite: the tests take brokers down and read the
/// process-global metrics (``TestMetrics``) before and after.
@Suite(.serialized) struct KafkaLifecycleTests {}
