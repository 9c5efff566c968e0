import { ArnFormat, Duration, Fn, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AccessLogFormat } from 'aws-cdk-lib/aws-apigateway';
import {
  CorsHttpMethod,
  HttpApi,
  HttpMethod,
  HttpNoneAuthorizer,
  HttpStage,
  LogGroupLogDestination,
  type CorsPreflightOptions,
  type HttpRoute,
  type IHttpRouteAuthorizer,
} from 'aws-cdk-lib/aws-apigatewayv2';
import { HttpIamAuthorizer, HttpJwtAuthorizer } from 'aws-cdk-lib/aws-apigatewayv2-authorizers';
import { HttpLambdaIntegration } from 'aws-cdk-lib/aws-apigatewayv2-integrations';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IStateMachine } from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { API_ROUTES, PUBLIC_ROUTES, type ApiRouteName } from '../tasks/api/routes.js';
import { acknowledge, acknowledgeWildcard, nagResource } from './nag.js';
import type { ApiAuth } from './stack-config.js';
import type { TaskFunction } from './task-function.js';

/** Request headers a browser may send: JSON bodies, JWT bearer tokens, SigV4 signing, idempotency. */
export const CORS_ALLOWED_HEADERS = [
  'content-type',
  'authorization',
  'idempotency-key',
  'x-amz-date',
  'x-amz-security-token',
];
/** Response headers a browser script may read: where the job is, and whether a retry was replayed. */
export const CORS_EXPOSED_HEADERS = ['location', 'idempotent-replayed'];

export interface JobApiProps {
  /** The one function behind every route (tasks/handlers/api.ts). */
  handler: TaskFunction;
  auth: ApiAuth;
  /** Exact browser origins; empty means no CORS configuration. */
  corsAllowedOrigins: readonly string[];
  throttle: { rateLimit: number; burstLimit: number };
  /**
   * The job state machine, whose executions POST /jobs/{id}/redrive describes, reads the last
   * events of and redrives: the handler is granted exactly those three actions on its executions.
   */
  stateMachine: IStateMachine;
}

/** What POST /jobs/{id}/redrive calls on a job's execution (tasks/api/redrive-job.ts). */
export const REDRIVE_ACTIONS = ['states:DescribeExecution', 'states:GetExecutionHistory', 'states:RedriveExecution'];

/**
 * The HTTP API: one route per entry of API_ROUTES, all integrated with the API function. Every
 * route requires IAM (SigV4) or, when configured, a JWT, except the public ones (/health).
 * The default stage is throttled and writes JSON access logs to its own log group.
 */
export class JobApi extends Construct {
  readonly httpApi: HttpApi;
  readonly stage: HttpStage;
  readonly accessLogs: LogGroup;
  readonly routes: Record<ApiRouteName, HttpRoute>;
  /** The base URL of the default stage, ending in `/`. */
  readonly url: string;

  constructor(scope: Construct, id: string, props: JobApiProps) {
    super(scope, id);

    this.httpApi = new HttpApi(this, 'HttpApi', {
      apiName: `${Stack.of(this).stackName}-api`,
      description: 'llm-batch: create batch jobs, read their items, results and logs, cancel them',
      defaultAuthorizer: authorizerFor(props.auth),
      createDefaultStage: false,
      ...(props.corsAllowedOrigins.length > 0 ? { corsPreflight: corsFor(props.corsAllowedOrigins) } : {}),
    });

    this.accessLogs = new LogGroup(this, 'AccessLogs', {
      retention: RetentionDays.ONE_MONTH,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.stage = this.httpApi.addStage('DefaultStage', {
      stageName: '$default',
      autoDeploy: true,
      throttle: { rateLimit: props.throttle.rateLimit, burstLimit: props.throttle.burstLimit },
      accessLogSettings: { destination: new LogGroupLogDestination(this.accessLogs), format: ACCESS_LOG_FORMAT },
    });
    this.url = this.stage.url;

    const integration = new HttpLambdaIntegration('Integration', props.handler.fn);
    const routes: Partial<Record<ApiRouteName, HttpRoute>> = {};
    for (const route of API_ROUTES) {
      const isPublic = PUBLIC_ROUTES.includes(route.name);
      const [added] = this.httpApi.addRoutes({
        path: route.path,
        methods: [HttpMethod[route.method]],
        integration,
        ...(isPublic ? { authorizer: new HttpNoneAuthorizer() } : {}),
      });
      if (!added) throw new Error(`JobApi: no route was added for ${route.method} ${route.path}`);
      if (isPublic) {
        acknowledge(
          added,
          'AwsSolutions-APIG4',
          `${route.method} ${route.path} is the public uptime check: it answers a fixed status and reads no job data, ` +
            'so load balancers and monitors can call it without credentials. Every other route requires authorization.',
        );
      }
      routes[route.name] = added;
    }
    this.routes = routes as Record<ApiRouteName, HttpRoute>;
    // Scoped by CDK to execution:<this state machine>:* (the execution of a job is named after it).
    props.stateMachine.grantExecution(props.handler.fn, ...REDRIVE_ACTIONS);
    const executions = Stack.of(this).formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${Fn.select(6, Fn.split(':', props.stateMachine.stateMachineArn))}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    });
    acknowledgeWildcard(
      props.handler,
      nagResource(props.handler, executions),
      'POST /jobs/{id}/redrive describes, reads the last history events of and redrives the execution of one job, ' +
        'named after the job id at run time; CDK scopes the grant to execution:<this state machine>:*.',
    );
  }
}

function authorizerFor(auth: ApiAuth): IHttpRouteAuthorizer {
  if (auth.kind === 'iam') return new HttpIamAuthorizer();
  return new HttpJwtAuthorizer('JwtAuthorizer', auth.issuer, { jwtAudience: [...auth.audience] });
}

function corsFor(origins: readonly string[]): CorsPreflightOptions {
  return {
    allowOrigins: [...origins],
    allowMethods: [CorsHttpMethod.GET, CorsHttpMethod.POST],
    allowHeaders: CORS_ALLOWED_HEADERS,
    exposeHeaders: CORS_EXPOSED_HEADERS,
    // Credentials travel in headers (Authorization, X-Amz-*), not cookies: no Allow-Credentials.
    allowCredentials: false,
    maxAge: Duration.hours(1),
  };
}

/** One JSON line per request: who called what, the answer, and why it failed if it did. */
const ACCESS_LOG_FORMAT = AccessLogFormat.custom(
  JSON.stringify({
    requestId: '$context.requestId',
    requestTime: '$context.requestTime',
    sourceIp: '$context.identity.sourceIp',
    userArn: '$context.identity.userArn',
    jwtSubject: '$context.authorizer.claims.sub',
    method: '$context.httpMethod',
    routeKey: '$context.routeKey',
    path: '$context.path',
    status: '$context.status',
    protocol: '$context.protocol',
    responseLength: '$context.responseLength',
    responseLatency: '$context.responseLatency',
    integrationLatency: '$context.integrationLatency',
    integrationStatus: '$context.integrationStatus',
    integrationError: '$context.integrationErrorMessage',
    authorizerError: '$context.authorizer.error',
    error: '$context.error.message',
  }),
);
