import StreamAdaptCore

extension PipelineConfiguration {
    /// Every setting of a pipeline file, in the order of the reference file. Parsing applies them in
    /// this order (so `model.kalman.observation` and `model.kalman.covariance`, which choose the Kalman
    /// defaults, come before the settings that override them), the unknown-key check knows exactly these
    /// keys (and their sections), and ``reference()`` writes them with their defaults and help. Adding
    /// a setting means adding one line here and regenerating `etc/streamadapt.yaml`
    /// (`swift run streamadapt config > etc/streamadapt.yaml`; a test fails until it is).
    public static var settings: [PipelineSetting] {
        [
            .string("name", \.name, "names the default state topic (<name>-state)"),
            .group(
                "group",
                "join this Kafka consumer group: daemons of one group share the input's partitions, each partition's "
                    + "state moving with it (model.mode becomes per-partition; docs/scale-out.md); --group; env STREAMADAPT_GROUP",
                example: "fashion"),

            .string("kafka.bootstrap", \.bootstrapServers, "--bootstrap; env STREAMADAPT_BOOTSTRAP"),
            .stringMap(
                "kafka.properties", \.kafkaProperties, "any librdkafka client property, passed through unchanged",
                exampleLines: [
                    "security.protocol: SASL_SSL", "sasl.mechanisms: PLAIN", "sasl.username: user", "sasl.password: secret",
                    "linger.ms: \"5\"",
                ]),
            .double(
                "kafka.outageLimitSeconds", \.outageLimitSeconds,
                "how long the daemon waits for an unreachable broker (at start, or in an outage, counted from its "
                    + "start) before it gives up and exits non-zero; 0 waits without limit"),
            .double(
                "kafka.stopTimeoutSeconds", \.stopTimeoutSeconds,
                "the most a graceful stop waits for the final flush of outputs before it exits without a final "
                    + "checkpoint (non-zero); keep it below the systemd unit's TimeoutStopSec (60 s)"),

            .string("topics.input", \.inputTopic, "JSON or binary embedding events"),
            .optionalString(
                "topics.labels", \.labelsTopic, "delayed labels {\"id\", \"label\"}, learned from the label cache",
                example: "labels"),
            .optionalString(
                "topics.control", \.controlTopic,
                "class changes at run time {\"op\": \"add-class\", \"name\", \"embedding\"} or {\"op\": \"retire-class\", \"name\"} "
                    + "(docs/classes.md); may be topics.input: records with the header streamadapt-control are then class "
                    + "changes, in order with the events",
                example: "classes"),
            .optionalString(
                "topics.state", \.stateTopicSetting,
                "with group: partition snapshots, as many partitions as topics.input, cleanup.policy=compact "
                    + "(default <name>-state)",
                example: "fashion-state"),
            .string("topics.predictions", \.predictionsTopic, "one record per input event, key = event id"),
            .string("topics.alerts", \.alertsTopic, "one record when an alert is raised, one when it clears"),
            .string(
                "topics.deadLetter", \.deadLetterTopic,
                "unusable inputs (key and value unchanged), with the reason in headers"),

            .string(
                "model.classes", \.classesDirectory,
                "REQUIRED: a directory with classes.txt (C names) and text.f32 (C x D float32)",
                example: "/path/to/classes"),
            .string(
                "model.head", \.head,
                "zeroshot | kalman | kalman-diagonal | tip | tipx | clipood, or a sum: kalman+tip"),
            .choice(
                "model.mode", \.modelMode,
                "single: one model for every partition; per-partition: one per input partition (needs group); shared: "
                    + "one kalman model learned from every partition, folded at each snapshot round (needs group; docs/scale-out.md)"),
            .int(
                "model.maxBlock", \.maximumBlock,
                "the most events of a poll batch processed as one block (level-3 BLAS; outputs published after "
                    + "the block); 1: event by event, bit-identical replays (docs/operations.md)"),
            .int(
                "model.maxClasses", \.maximumClassCount,
                "the most classes (active and retired) add-class records on topics.control can grow the model to; "
                    + "beyond: dead letter too-many-classes (each addition costs O(C^3), docs/classes.md)"),
            .int(
                "model.classWarmup", \.classWarmup,
                "labels a class added at run time learns before it is predicted at full weight: until then its "
                    + "probability is weighted by ((n + 1) / (classWarmup + 1))^2 (n: its labels so far; without labels "
                    + "it stays weighted down); 0: none. 100 keeps the other classes within 0.02 at an addition where the "
                    + "stream shifts (docs/classes.md)"),
            .custom(
                "model.kalman.observation", type: PipelineSetting.choices(KalmanConfiguration.Observation.self),
                "gaussian (centred target) | softmax (softmax switches both Kalman heads to its own defaults)",
                render: { $0.heads.kalman.observation.rawValue }
            ) { node, c in
                let observation = try PipelineSetting.choice(
                    node, "model.kalman.observation", KalmanConfiguration.Observation.self)
                try c.heads.setKalman(observation: observation, kalmanCovariance: c.heads.kalman.covariance)
            },
            .custom(
                "model.kalman.covariance", type: PipelineSetting.choices(KalmanConfiguration.Covariance.self),
                "the kalman head's: full (shared D x D) | diagonal (one variance per weight, priorVariance 0.0003)",
                render: { $0.heads.kalman.covariance.rawValue }
            ) { node, c in
                let covariance = try PipelineSetting.choice(
                    node, "model.kalman.covariance", KalmanConfiguration.Covariance.self)
                c.heads.kalman = .defaults(observation: c.heads.kalman.observation, covariance: covariance)
            },
            .custom(
                "model.kalman.precision", type: PipelineSetting.choices(KalmanConfiguration.Precision.self),
                "storage of the kalman head's full covariance P: float64 | float32 (half the memory and about twice "
                    + "the speed at large D, Float32 rounding of P; docs/heads.md)",
                render: { $0.heads.kalman.precision.rawValue }
            ) { node, c in
                c.heads.kalman.precision = try PipelineSetting.choice(
                    node, "model.kalman.precision", KalmanConfiguration.Precision.self)
            },
            .kalman("model.kalman.target", \.target, "centred | onehot (gaussian observation)"),
            .kalman("model.kalman.forgetting", \.forgetting, "lambda: P <- P / lambda per update (or per second, forgettingUnit)"),
            .kalman(
                "model.kalman.forgettingUnit", \.forgettingUnit,
                "event (lambda per update) | second (lambda per second of event time, the events' ts or Kafka timestamp: "
                    + "what an exact shared model needs)"),
            .kalman(
                "model.kalman.priorVariance", \.priorVariance,
                "p0: P0 = p0 I; default 0.01 for the kalman head (10 with the softmax observation) and 0.0003 for "
                    + "kalman-diagonal (and covariance: diagonal); given, it sets both heads",
                commentedOut: true),
            .custom(
                "model.kalman.traceBound", type: "number", "trace(P) <= traceBound * trace(P0) (.inf: no bound)",
                render: { $0.heads.kalman.traceBound == .infinity ? ".inf" : "\($0.heads.kalman.traceBound)" }
            ) { node, c in
                let text = node.scalar?.string ?? ""
                let value = [".inf", "inf", ".Inf", ".INF"].contains(text) ? Double.infinity : try PipelineSetting.double(node, "model.kalman.traceBound")
                c.heads.kalman.traceBound = value
                c.heads.kalmanDiagonal.traceBound = value
            },
            .kalman(
                "model.kalman.initialNoise", \.initialNoise,
                "R0, the initial observation-noise variance (softmax observation: 1)", commentedOut: true),
            .kalman(
                "model.kalman.noiseMemory", \.noiseMemory,
                "EMA memory of the observation-noise estimate (1 = fixed R; softmax observation: 1)", commentedOut: true),
            .kalman("model.kalman.minimumNoise", \.minimumNoise, "floor of the observation noise R"),
            .kalman("model.kalman.mahalanobisScaling", \.mahalanobisScaling, "s: R_eff = R (1 + s d2 / D)"),
            .kalman(
                "model.kalman.initialScale", \.initialScale,
                "W0 = initialScale * normalised class embeddings (softmax observation: 30)", commentedOut: true),
            .kalman("model.kalman.targetScale", \.targetScale, "kappa_y, the target margin (gaussian observation)"),
            .kalman("model.kalman.logitScale", \.logitScale, "softmax observation: logits a W x"),
            .kalman("model.kalman.outputScale", \.outputScale, "gaussian: reported logits outputScale * W x"),

            .int("model.tip.shotsPerClass", \.heads.tip.shotsPerClass, "K: labelled embeddings cached per class"),
            .choice("model.tip.eviction", \.heads.tip.eviction, "which cached key a new embedding replaces when its class is full (reservoir: a seeded uniform sample)"),
            .choice(
                "model.tip.affinityCorrection", \.heads.tip.affinityCorrection,
                "standardized: affinities scaled by their spread across the cached keys and the cache term by the "
                    + "spread of the logits it is added to (online intra-modal-overlap correction, docs/heads.md); "
                    + "none: the papers' alpha and beta"),
            .double(
                "model.tip.relativeAlpha", \.heads.tip.relativeAlpha,
                "standardized: r, the cache term's weight in standard deviations of the logits it is added to"),
            .double(
                "model.tip.spreadSharpness", \.heads.tip.spreadSharpness,
                "standardized: b in exp(b (a_j - max a) / sd(a))"),
            .bool(
                "model.tip.selectsWeight", \.heads.tip.selectsWeight,
                "standardized: choose the cache weight per event among r x {0, 1/16 .. 1} by a sign test on the "
                    + "labelled events (false: always r)"),
            .double(
                "model.tip.selectionMemory", \.heads.tip.selectionMemory,
                "weight selection: memory of the win/loss counts, in labelled events"),
            .double(
                "model.tip.selectionConfidence", \.heads.tip.selectionConfidence,
                "weight selection: z, a level is used when wins - losses > z sqrt(wins + losses)"),
            .double("model.tip.alpha", \.heads.tip.alpha, "none: residual ratio of the cache logits"),
            .double("model.tip.beta", \.heads.tip.beta, "none: sharpness of the affinity exp(-beta (1 - x F'))"),
            .double("model.tip.temperature", \.heads.tip.temperature, "scale of the zero-shot term (CLIP's logit scale)"),
            .double("model.tip.gamma", \.heads.tipXWeight, "Tip-X weight of the KL-signature affinity (tipx head)"),
            .double(
                "model.tip.signatureTemperature", \.heads.tip.signatureTemperature,
                "Tip-X: temperature of the class-probability signatures"),

            .double("model.clipood.margin", \.heads.clipood.margin, "margin scale lambda_m of the margin metric softmax"),
            .double("model.clipood.temperature", \.heads.clipood.temperature, "logit scale tau"),
            .double("model.clipood.learningRate", \.heads.clipood.learningRate, "SGD learning rate (per sample)"),
            .double(
                "model.clipood.betaShape", \.heads.clipood.betaShape, "b: Beta(b, b) weights of the moving average"),
            .int("model.clipood.horizon", \.heads.clipood.horizon, "H: the sliding horizon (updates) of the Beta moving average"),

            .bool(
                "drift.inputScoring", \.drift.inputScoring,
                "false: no Mahalanobis scorer (no per-event solve, \"mahalanobis\": null, never \"drifting\"); "
                    + "input-drift and accuracy-drop alerts remain"),
            .double(
                "drift.covarianceMemory", \.drift.mahalanobis.covarianceMemory,
                "a: Sigma <- a Sigma + (1 - a) d d' per update of the scorer"),
            .double("drift.meanRate", \.drift.mahalanobis.meanRate, "r: mu_c <- mu_c + r (x - mu_c)"),
            .double(
                "drift.priorVariance", \.drift.mahalanobis.priorVariance,
                "Sigma0 = priorVariance * I (per dimension, of normalised embeddings)"),
            .double(
                "drift.shrinkage", \.drift.mahalanobis.shrinkage,
                "ridge added before the factorisation, as a fraction of the mean diagonal of Sigma"),
            .int(
                "drift.refreshInterval", \.drift.mahalanobis.refreshInterval,
                "once calibrated, the most updates between Cholesky refreshes of the covariance: after n updates "
                    + "the interval is max(calibrationRefreshInterval, n/4), at most refreshInterval"),
            .int(
                "drift.calibrationRefreshInterval", \.drift.mahalanobis.calibrationRefreshInterval,
                "updates between refreshes until the threshold is calibrated"),
            .int("drift.warmupEvents", \.drift.mahalanobis.warmupEvents, "events that only train the scorer"),
            .int(
                "drift.referenceEvents", \.drift.mahalanobis.referenceEvents,
                "events whose scores calibrate the threshold"),
            .double(
                "drift.quantile", \.drift.mahalanobis.quantile,
                "the threshold: this quantile of the reference scores"),
            .int(
                "drift.projection", \.drift.mahalanobis.projection,
                "score in a random projection to this many dimensions (0: full D); faster at large D, less "
                    + "sensitive to mild shifts (docs/drift.md)"),
            .bool(
                "drift.inputAlerts", \.drift.inputAlerts,
                "input-drift alerts from the mean-shift test of the embeddings (docs/drift.md); false: none"),
            .int(
                "drift.inputWindow", \.drift.inputWindow,
                "input-drift test: memory (events) of the recent mean; also the events an alert record lists"),
            .int(
                "drift.inputReference", \.drift.inputReference,
                "input-drift test: memory (events) of the reference mean, which restarts at each raise"),
            .double(
                "drift.inputRaiseLevel", \.drift.inputRaiseLevel,
                "input-drift alert: raised when the statistic (mean 1 without drift) reaches this"),
            .double(
                "drift.inputClearLevel", \.drift.inputClearLevel,
                "input-drift alert: cleared when the statistic falls to this, a window or more after the raise"),
            .int("drift.inputWarmup", \.drift.inputWarmup, "input-drift alert: events before it may be raised"),
            .double("drift.accuracyDelta", \.drift.accuracyDelta, "accuracy-drop alert: Page-Hinkley tolerance"),
            .double(
                "drift.accuracyThreshold", \.drift.accuracyThreshold,
                "accuracy-drop alert: raised when the Page-Hinkley statistic passes this"),
            .int(
                "drift.accuracyMinimumEvents", \.drift.accuracyMinimumEvents,
                "accuracy-drop alert: labelled events before it may be raised"),
            .int(
                "drift.accuracyWindow", \.drift.accuracyWindow,
                "accuracy-drop alert: the error rates it clears by (and reports at clearing) are over this many labelled "
                    + "events; the rate since the change it reports at the raise looks back at most twice this"),
            .double(
                "drift.accuracySettleTolerance", \.drift.accuracySettleTolerance,
                "accuracy-drop alert: cleared as recovered when the last window's error rate is back within "
                    + "accuracyDelta of the rate before, else as settled (two windows after the raise) when the error "
                    + "rates of the last two windows differ by at most this"),
            .double(
                "drift.calibrationRate", \.drift.calibrationRate,
                "step size of the online temperature calibration of the probabilities (1: full steps; 0: off)"),
            .int(
                "drift.alertHistory", \.drift.alertHistory,
                "alerts kept in the model and its checkpoints (at least 2): a new alert drops the oldest cleared "
                    + "one; active alerts are always kept"),

            .int(
                "input.maxMessageBytes", \.maximumMessageBytes,
                "larger messages go to the dead-letter topic (oversized)"),
            .int(
                "input.labelCacheSize", \.labelCacheSize,
                "unlabelled events kept for delayed labels; only with topics.labels"),
            .int("input.topClasses", \.topClasses, "classes listed in a prediction's \"top\""),
            .int(
                "input.maxIdBytes", \.maximumIdBytes,
                "longer event ids (JSON, header or key) are dead letters (id-too-long)"),
            .choice(
                "input.offsetGaps", \.offsetGaps,
                "a stored offset past the end of its partition, or input lost to retention: refuse (stop, naming "
                    + "topic and offsets) or accept (log, count, continue from the oldest retained offset)"),

            .optionalString(
                "checkpoint.directory", \.checkpointDirectory,
                "--checkpoint-dir; env STREAMADAPT_CHECKPOINT_DIR; no directory = no checkpoints",
                example: "/var/lib/streamadapt/pipeline"),
            .int("checkpoint.everyEvents", \.checkpointEveryEvents, "a checkpoint after this many events"),
            .double("checkpoint.everySeconds", \.checkpointEverySeconds, "and at least this often"),

            .int(
                "metrics.port", \.metricsPort,
                "/metrics, /healthz, /readyz; 0 disables; env STREAMADAPT_METRICS_PORT"),
            .string("metrics.host", \.metricsHost, "the address the metrics server listens on"),
        ]
    }

    /// Comments written on a section's line in the reference.
    static let sectionHelp: [String: String] = [
        "model.kalman":
            "sets both the kalman and the kalman-diagonal head; the settings commented out have defaults that "
            + "depend on the observation and the covariance"
    ]
}
