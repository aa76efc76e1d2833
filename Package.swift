// swift-tools-version: 6.0
import PackageDescription

/// The upcoming language features Hummingbird turns on, for every module, the tests too
/// (issue 14): imports are internal unless marked `public import`, existentials are spelled
/// `any P`, and a member is visible only where its module is imported.
let upcomingFeatures: [SwiftSetting] = [
    .enableUpcomingFeature("InternalImportsByDefault"),
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("MemberImportVisibility"),
]

let package = Package(
    name: "Choreo",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "ChoreoAI", targets: ["ChoreoAI"]),
        .library(name: "ChoreoBatch", targets: ["ChoreoBatch"]),
        .library(name: "ChoreoMock", targets: ["ChoreoMock"]),
        .executable(name: "choreo", targets: ["choreo"]),
    ],
    dependencies: [
        // The command line: the de-facto standard parser, with help and validation built in.
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        // The mock provider's HTTP server (tests, demo, offline pipelines). Only ChoreoMock uses it.
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
    ],
    targets: [
        // The one lock every module uses (`Locked`), instead of Synchronization's `Mutex`, which a
        // release build can make take its lock in another thread's name (ChoreoLocking/Locked.swift).
        .target(name: "ChoreoLocking", swiftSettings: upcomingFeatures),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),
        .target(name: "CCurlShim", dependencies: ["CCurl"]),
        // The OS calls Swift cannot make itself (epoll, eventfd, mallopt, core dumps), apart from curl.
        .target(name: "CChoreoSystem"),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .systemLibrary(
            name: "CLibPQ",
            pkgConfig: "libpq",
            providers: [.apt(["libpq-dev"])]
        ),
        // OpenSSL's libcrypto, for SHA-256 only (`SHA256`): the request key of every job and the
        // hash of every submitted file. libcurl already loads it for TLS; its SHA-256 uses the CPU's
        // SHA instructions, ~10× what a portable implementation does (BENCHMARKS.md, round 15).
        .systemLibrary(
            name: "CCrypto",
            pkgConfig: "libcrypto",
            providers: [.apt(["libssl-dev"])]
        ),
        // `choreo chat`'s line editing and history.
        .systemLibrary(
            name: "CEditLine",
            pkgConfig: "libedit",
            providers: [.apt(["libedit-dev"])]
        ),
        // The commit a release binary was built from (`choreo --version`; see scripts/install.sh).
        .target(name: "CBuildInfo"),
        // The HTTP transport: the only module that imports CCurl (`internal import`, so no curl type
        // can appear in its API).
        .target(name: "ChoreoHTTP", dependencies: ["CCurlShim", "CCurl", "CChoreoSystem", "ChoreoLocking"], swiftSettings: upcomingFeatures),
        .target(name: "ChoreoAI", dependencies: ["ChoreoHTTP", "ChoreoLocking"], swiftSettings: upcomingFeatures),
        // The SQLite wrapper: connection, statements, errors, transactions, migrator. The only
        // module that imports CSQLite.
        .target(name: "ChoreoSQLite", dependencies: ["CSQLite"], swiftSettings: upcomingFeatures),
        // The PostgreSQL wrapper over libpq (issue 15, docs/postgres.md): connection, statements,
        // errors, transactions, migrator. The only module that imports CLibPQ.
        .target(name: "ChoreoPostgres", dependencies: ["CLibPQ"], swiftSettings: upcomingFeatures),
        .target(name: "ChoreoBatch", dependencies: ["ChoreoAI", "ChoreoSQLite", "ChoreoPostgres", "ChoreoLocking", "CCrypto"], swiftSettings: upcomingFeatures),
        .target(
            name: "ChoreoMock",
            dependencies: [
                "ChoreoLocking",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            swiftSettings: upcomingFeatures
        ),
        .executableTarget(
            name: "choreo",
            dependencies: [
                "ChoreoAI", "ChoreoBatch", "ChoreoSQLite", "ChoreoMock", "ChoreoLocking", "CChoreoSystem", "CEditLine", "CBuildInfo",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
            ],
            swiftSettings: upcomingFeatures
        ),
        // The streaming guide's patterns in Swift (docs/streaming.md), runnable and tested.
        .target(name: "StreamingExamples", dependencies: ["ChoreoAI", "ChoreoLocking"], path: "Examples/StreamingExamples",
                swiftSettings: upcomingFeatures),
        .executableTarget(
            name: "streaming-examples",
            dependencies: ["StreamingExamples", "ChoreoAI", "ChoreoMock"],
            path: "Examples/streaming-examples",
            swiftSettings: upcomingFeatures
        ),
        // What the test targets share: scoped mock servers, `eventually`, temporary directories, the
        // every-split verifier, the client and messages that join ChoreoAI to the mock, and a
        // throwaway PostgreSQL cluster.
        .target(name: "ChoreoTesting", dependencies: ["ChoreoAI", "ChoreoBatch", "ChoreoMock", "ChoreoPostgres", "ChoreoLocking", "CChoreoSystem"], path: "Tests/ChoreoTesting",
                swiftSettings: upcomingFeatures),
        .testTarget(name: "StreamingExamplesTests", dependencies: ["StreamingExamples", "ChoreoAI", "ChoreoMock", "ChoreoTesting"], swiftSettings: upcomingFeatures),
        .testTarget(name: "ChoreoAITests", dependencies: ["ChoreoAI", "ChoreoHTTP", "ChoreoMock", "ChoreoTesting"], swiftSettings: upcomingFeatures),
        .testTarget(name: "ChoreoHTTPTests", dependencies: ["ChoreoHTTP", "ChoreoMock", "ChoreoTesting"], swiftSettings: upcomingFeatures),
        .testTarget(name: "ChoreoBatchTests", dependencies: ["ChoreoBatch", "ChoreoSQLite", "ChoreoPostgres", "ChoreoMock", "ChoreoTesting"], swiftSettings: upcomingFeatures),
        .testTarget(name: "ChoreoLockingTests", dependencies: ["ChoreoLocking"], swiftSettings: upcomingFeatures),
        .testTarget(name: "ChoreoPostgresTests", dependencies: ["ChoreoPostgres", "ChoreoTesting"], swiftSettings: upcomingFeatures),
        .testTarget(name: "ChoreoMockTests", dependencies: [
            "ChoreoMock", "ChoreoAI", "ChoreoHTTP", "ChoreoTesting", "ChoreoLocking",
            // EmbeddedChannel: a connection whose close the test times against the handler's writes.
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ], swiftSettings: upcomingFeatures),
        .testTarget(name: "ChoreoCLITests", dependencies: ["ChoreoBatch", "ChoreoSQLite", "ChoreoHTTP", "ChoreoMock", "ChoreoTesting", "ChoreoLocking"], swiftSettings: upcomingFeatures),
    ],
    swiftLanguageModes: [.v6]
)
