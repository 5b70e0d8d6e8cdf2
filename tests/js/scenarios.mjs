// Drives an rxflow server with the unmodified @mastra/client-js: `node scenarios.mjs URL NAME`
// runs one scenario and prints what it saw as one JSON document on stdout.
import { MastraClient } from '@mastra/client-js';

const [baseUrl, name, ...rest] = process.argv.slice(2);
const client = new MastraClient({ baseUrl, retries: 0 });

async function readAll(stream) {
  const chunks = [];
  for await (const chunk of stream) chunks.push(chunk);
  return chunks;
}

async function waitForStatus(workflow, runId, status) {
  for (let i = 0; i < 200; i++) {
    const run = await workflow.runById(runId);
    if (run.status === status) return run;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`run ${runId} never reached ${status}`);
}

const scenarios = {
  async list() {
    const all = await client.listWorkflows();
    const partial = await client.listWorkflows(undefined, true);
    return { keys: Object.keys(all), demo: all.demoWorkflow, partial: partial.demoWorkflow };
  },
  async details() {
    const wf = client.getWorkflow('demoWorkflow');
    const byOwnId = await client.getWorkflow('demo-workflow').details();
    return { details: await wf.details(), schema: await wf.getSchema(), byOwnId: byOwnId.name };
  },
  async stream() {
    const wf = client.getWorkflow('demoWorkflow');
    const run = await wf.createRun();
    const chunks = await readAll(await run.stream({ inputData: { value: 1, extra: true } }));
    const named = await wf.createRun({ runId: 'chosen-id' });
    return { runId: run.runId, chunks, named: named.runId };
  },
  async suspendResume() {
    const wf = client.getWorkflow('approval');
    const run = await wf.createRun();
    const first = await readAll(await run.stream({ inputData: { value: 1 } }));
    const suspended = await wf.runById(run.runId);
    const rest = await readAll(
      await run.resumeStream({ step: 'approve', resumeData: { approved: true } }),
    );
    let again;
    try {
      await run.resumeStream({ resumeData: { approved: true } });
    } catch (error) {
      again = { status: error.status, body: error.body };
    }
    const all = await readAll(await run.observe());
    return { first, suspended: suspended.status, rest, again, observedTypes: all.map((c) => c.type) };
  },
  async asyncRoutes() {
    const wf = client.getWorkflow('approval');
    const run = await wf.createRun();
    const started = await run.startAsync({ inputData: { value: 2 } });
    const resumed = await run.resumeAsync({ step: 'approve', resumeData: { approved: true } });
    const failing = await (await client.getWorkflow('fails').createRun()).startAsync({
      inputData: { value: 1 },
    });
    return {
      started,
      resumed,
      failed: { status: failing.status, error: { message: failing.error.message } },
    };
  },
  async cancel() {
    const wf = client.getWorkflow('slow');
    const run = await wf.createRun();
    const stream = await run.stream({ inputData: { value: 3000 } });
    const reader = stream.getReader();
    const seen = [];
    for (;;) {
      const { value } = await reader.read();
      seen.push(value);
      if (value.type === 'workflow-step-start') break;
    }
    const answer = await run.cancel();
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      seen.push(value);
    }
    const stored = await wf.runById(run.runId);
    return { answer, types: seen.map((c) => c.type), last: seen.at(-1), stored: stored.status };
  },
  async observe() {
    const wf = client.getWorkflow('slow');
    const run = await wf.createRun();
    const stream = await run.stream({ inputData: { value: 400 } });
    const reader = stream.getReader();
    await reader.read(); // workflow-start: the run is going
    const whileRunning = await readAll(await run.observe({ offset: 1 }));
    const rest = [];
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      rest.push(value);
    }
    const afterEnd = await readAll(await run.observe({ offset: 2 }));
    const pastEnd = await readAll(await run.observe({ offset: 100 }));
    return {
      whileRunning: whileRunning.map((c) => c.type),
      streamed: rest.map((c) => c.type),
      afterEnd: afterEnd.map((c) => c.type),
      pastEnd: pastEnd.length,
    };
  },
  async runs() {
    const wf = client.getWorkflow('approval');
    const a = await wf.createRun({ resourceId: 'user-a' });
    await a.startAsync({ inputData: { value: 1 }, resourceId: 'user-a' });
    const b = await wf.createRun();
    await b.startAsync({ inputData: { value: 1 } });
    await b.resumeAsync({ resumeData: { approved: false } });
    const suspended = await wf.runs({ status: 'suspended' });
    const byResource = await wf.runs({ resourceId: 'user-a' });
    const page = await wf.runs({ perPage: 1, page: 0 });
    const withFields = await wf.runById(b.runId, { fields: ['result'] });
    const full = await wf.runById(b.runId);
    const deleted = await wf.deleteRunById(b.runId);
    let missing;
    try {
      await wf.runById(b.runId);
    } catch (error) {
      missing = { status: error.status, body: error.body };
    }
    const counts = await client.listWorkflowRunCounts();
    return {
      suspended: suspended.runs.map((r) => r.runId),
      a: a.runId,
      b: b.runId,
      byResource: byResource.runs.map((r) => [r.runId, r.resourceId]),
      page: { n: page.runs.length, total: page.total },
      withFields,
      fullKeys: Object.keys(full).sort(),
      fullSteps: full.steps,
      deleted,
      missing,
      counts: counts.approval,
    };
  },
  async timeTravel() {
    const wf = client.getWorkflow('demoWorkflow');
    const run = await wf.createRun();
    const first = await run.startAsync({ inputData: { value: 1 } });
    const streamed = await readAll(
      await run.timeTravelStream({ step: 'double', inputData: { value: 10 } }),
    );
    const afterStream = await wf.runById(run.runId);
    const travelled = await run.timeTravelAsync({ step: 'add-one', inputData: { value: 5 } });
    const started = await run.timeTravel({
      step: ['double'],
      context: { 'add-one': { status: 'success', output: { value: 7 } } },
    });
    let last;
    for (let i = 0; i < 200; i++) {
      last = await wf.runById(run.runId);
      if (last.status === 'success' && last.result.value === 14) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    let unknown;
    try {
      await run.timeTravelAsync({ step: 'nope' });
    } catch (error) {
      unknown = { status: error.status, body: error.body };
    }
    let missing;
    try {
      await run.timeTravelAsync({ inputData: { value: 1 } });
    } catch (error) {
      missing = { status: error.status, body: error.body };
    }
    return {
      first: first.result,
      streamed,
      afterStream: { status: afterStream.status, result: afterStream.result },
      travelled: { status: travelled.status, result: travelled.result },
      started,
      last: { status: last.status, result: last.result, steps: Object.keys(last.steps) },
      unknown,
      missing,
    };
  },
  async perStep() {
    const wf = client.getWorkflow('demoWorkflow');
    const run = await wf.createRun();
    const first = await readAll(await run.stream({ inputData: { value: 1 }, perStep: true }));
    const paused = await wf.runById(run.runId);
    const rest = await readAll(await run.resumeStream({ perStep: true }));
    const done = await wf.runById(run.runId);
    return { first, paused: paused.status, rest, done: { status: done.status, result: done.result } };
  },
  async fireAndForget() {
    const wf = client.getWorkflow('approval');
    const run = await wf.createRun();
    const started = await run.start({ inputData: { value: 1 } });
    await waitForStatus(wf, run.runId, 'suspended');
    const resumed = await run.resume({ step: 'approve', resumeData: { approved: true } });
    const done = await waitForStatus(wf, run.runId, 'success');
    const second = await wf.createRun();
    await second.startAsync({ inputData: { value: 2 } });
    const noWait = await second.resumeNoWait({ resumeData: { approved: true } });
    const secondDone = await waitForStatus(wf, second.runId, 'success');
    const observed = await readAll(await second.observeStream());
    const restarted = await second.restartAsync();
    const now = Date.now();
    const inWindow = await wf.runs({
      fromDate: new Date(now - 3_600_000),
      toDate: new Date(now + 3_600_000),
    });
    const later = await wf.runs({ fromDate: new Date(now + 3_600_000) });
    const earlier = await wf.runs({ toDate: new Date(now - 3_600_000) });
    return {
      started,
      resumed,
      done: { status: done.status, result: done.result },
      noWait,
      secondRunId: second.runId,
      secondDone: { status: secondDone.status, result: secondDone.result },
      observedTypes: observed.map((c) => c.type),
      restarted: { status: restarted.status, result: restarted.result },
      inWindow: inWindow.runs.map((r) => r.runId),
      firstRunId: run.runId,
      later: later.total,
      earlier: earlier.total,
    };
  },
  async restart() {
    // A run left running by a server process that was killed: continue it here.
    const [runId] = rest;
    const wf = client.getWorkflow('slow');
    const run = await wf.createRun({ runId });
    const before = await wf.runById(runId);
    const result = await run.restartAsync();
    const observed = await readAll(await run.observe());
    const after = await wf.runById(runId, { fields: ['result'] });
    return {
      before: before.status,
      result: { status: result.status, result: result.result },
      observedTypes: observed.map((c) => c.type),
      last: observed.at(-1),
      after: { status: after.status, result: after.result },
    };
  },
};

const result = await scenarios[name]();
process.stdout.write(JSON.stringify(result));
