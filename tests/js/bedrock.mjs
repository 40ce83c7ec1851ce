// Drives the real AWS SDK for JavaScript v3 against an endpoint and prints JSON results.
// Usage: node bedrock.mjs <command> <endpoint> '<input json>'
// The runtime client speaks HTTP/2 (h2c on http://), exactly as in users' programs.
import {
  BedrockRuntimeClient,
  ConverseCommand,
  ConverseStreamCommand,
  CountTokensCommand,
  StartAsyncInvokeCommand,
  GetAsyncInvokeCommand,
} from "@aws-sdk/client-bedrock-runtime";
import {
  BedrockClient,
  ListFoundationModelsCommand,
  GetFoundationModelCommand,
} from "@aws-sdk/client-bedrock";

const [command, endpoint, inputJson] = process.argv.slice(2);
const input = JSON.parse(inputJson || "{}");
const common = {
  region: "us-east-1",
  endpoint,
  credentials: { accessKeyId: process.env.TEST_ACCESS_KEY || "test", secretAccessKey: process.env.TEST_SECRET_KEY || "test" },
  maxAttempts: 1,
};

async function main() {
  const runtime = new BedrockRuntimeClient(common);
  const control = new BedrockClient(common);
  try {
    switch (command) {
      case "converse": {
        const out = await runtime.send(new ConverseCommand(input));
        return { output: out.output, stopReason: out.stopReason, usage: out.usage, metrics: out.metrics };
      }
      case "converse-stream": {
        const started = Date.now();
        const out = await runtime.send(new ConverseStreamCommand(input));
        const events = [];
        for await (const event of out.stream) {
          const [name] = Object.keys(event);
          events.push({ name, at: Date.now() - started, body: event[name] });
        }
        return { events };
      }
      case "count-tokens": {
        const out = await runtime.send(new CountTokensCommand(input));
        return { inputTokens: out.inputTokens };
      }
      case "start-async-invoke": {
        const out = await runtime.send(new StartAsyncInvokeCommand(input));
        return { invocationArn: out.invocationArn };
      }
      case "get-async-invoke": {
        const out = await runtime.send(new GetAsyncInvokeCommand(input));
        return { status: out.status, submitTime: out.submitTime, endTime: out.endTime, outputDataConfig: out.outputDataConfig };
      }
      case "list-foundation-models": {
        const out = await control.send(new ListFoundationModelsCommand(input));
        return { modelSummaries: out.modelSummaries };
      }
      case "get-foundation-model": {
        const out = await control.send(new GetFoundationModelCommand(input));
        return { modelDetails: out.modelDetails };
      }
      default:
        throw new Error(`unknown command ${command}`);
    }
  } finally {
    runtime.destroy();
    control.destroy();
  }
}

main().then(
  (result) => console.log(JSON.stringify(result)),
  (error) => {
    console.log(JSON.stringify({
      error: error.name,
      message: error.message,
      status: error.$metadata?.httpStatusCode,
      requestId: error.$metadata?.requestId,
    }));
  },
);
