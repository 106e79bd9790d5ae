// Evaluates AWS requests against IAM policies with @cloud-copilot/iam-simulate (AWS's policy evaluation
// logic: identity and resource policies, every condition operator, same- and cross-account requests, the
// special trust rules of role trust policies and KMS key policies).
//
// Reads a JSON array of simulations (iam-simulate's `Simulation` shape) on stdin and writes a JSON array
// with one result per simulation, in order: {resultType, overallResult, errors, ignoredContextKeys,
// patterns}. Strict mode: a context key the request does not carry is absent, never assumed.
// Used by tests/infra/iam_access.py.
import { runSimulation } from '@cloud-copilot/iam-simulate'

async function readStdin() {
  const chunks = []
  for await (const chunk of process.stdin) chunks.push(chunk)
  return Buffer.concat(chunks).toString('utf8')
}

function summary(result) {
  if (result.resultType === 'error') {
    return { resultType: 'error', overallResult: null, errors: result.errors }
  }
  const analyses =
    result.resultType === 'single' ? [result.result] : result.results.map((item) => ({ ...item }))
  return {
    resultType: result.resultType,
    overallResult: result.overallResult,
    errors: null,
    ignoredContextKeys: [...new Set(analyses.flatMap((item) => item.ignoredContextKeys ?? []))],
    patterns: analyses.map((item) => item.resourcePattern).filter((pattern) => pattern !== undefined),
  }
}

const simulations = JSON.parse(await readStdin())
const results = []
for (const simulation of simulations) {
  results.push(summary(await runSimulation(simulation, { simulationMode: 'Strict' })))
}
process.stdout.write(JSON.stringify(results))
