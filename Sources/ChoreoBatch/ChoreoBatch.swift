// The batch runner library: jobs, store, scheduler, exports.
