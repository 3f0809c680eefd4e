// The JSON the API answers (camelCase, as crates/outcall-domain serialises it).

export interface Call {
  _id: string;
  callSid: string;
  status: string;
  from: string;
  to: string;
  direction?: string;
  startTime?: string;
  endTime?: string;
  answerTime?: string;
  duration?: number;
  answeredBy?: string;
  amdResult?: string;
  machineBehavior?: string;
  outcome?: string;
  terminatedBy?: string;
  terminationReason?: string;
  errorCode?: string | number;
  errorMessage?: string;
  contactName?: string;
  campaignId?: string;
  contactId?: string;
  agentId?: string;
  conversationId?: string;
  prompt?: string;
  firstMessage?: string;
  createdAt: string;
  updatedAt?: string;
}

export interface Turn {
  role: "agent" | "user";
  message: string;
  timeInCallSecs?: number;
}

export interface Transcript {
  callSid: string;
  conversationId?: string;
  transcript: Turn[];
  summary?: string;
  sentiment?: { label?: string; score?: number };
  analysis?: Record<string, unknown>;
  status?: string;
}

export interface Recording {
  recordingSid: string;
  callSid: string;
  url?: string;
  duration?: number;
  status: string;
  channels?: number;
  startTime?: string;
}

export interface CallEvent {
  _id: string;
  callSid: string;
  eventType: string;
  timestamp: string;
  data?: Record<string, unknown>;
}

export interface CampaignStats {
  totalContacts: number;
  callsPlaced: number;
  callsCompleted: number;
  callsAnswered: number;
  callsFailed: number;
  averageDuration: number;
}

export interface CallingWindow {
  start: string;
  end: string;
  days: string[];
  timezone: string;
}

export interface CampaignSettings {
  callDelay: number;
  maxConcurrentCalls: number;
  retryCount: number;
  retryDelay: number;
  retryOn: string[];
  callingWindow?: CallingWindow;
  voicemail?: { action: string; message?: string };
  agentId?: string;
}

export interface Campaign {
  _id: string;
  name: string;
  description?: string;
  status: string;
  prompt?: string;
  firstMessage?: string;
  callerId?: string;
  stats: CampaignStats;
  settings: CampaignSettings;
  createdAt: string;
  lastExecuted?: string | null;
}

export interface CampaignContact {
  _id: string;
  campaignId: string;
  contactId: string;
  phoneNumber: string;
  status: string;
  attempts: number;
  nextAttemptAt?: string;
  lastCallSid?: string;
  lastResult?: string;
  skipReason?: string;
}

export interface CampaignProgress {
  stats: CampaignStats;
  contacts: Record<string, number>;
}

export interface Contact {
  _id: string;
  phoneNumber: string;
  name?: string;
  email?: string;
  tags: string[];
  notes?: string;
  status: string;
  priority: number;
  timezone?: string;
  callCount: number;
  lastContacted?: string;
  campaignIds: string[];
  customFields?: Record<string, unknown>;
  createdAt: string;
}

export interface ImportResult {
  created: number;
  updated: number;
  duplicates: number;
  invalid: number;
  total: number;
  enrolled?: number;
  errors: { row: number; reason: string }[];
}

export interface Activity {
  eventType: string;
  callSid: string;
  timestamp: string;
  data?: Record<string, unknown>;
  call?: { to: string; from: string; status: string; campaignId?: string; contactName?: string };
}

export interface DayNumbers {
  calls: number;
  answered: number;
  completed: number;
  failed: number;
  averageDuration: number;
}

export interface Overview {
  totals: { calls: number; completed: number; answered: number; failed: number };
  answerRate: number;
  averageDuration: number;
  activeCalls: number;
  activeCampaigns: number;
  today: DayNumbers;
  yesterday: DayNumbers;
}

export interface VolumeBucket {
  start: string;
  total: number;
  completed: number;
  answered: number;
  failed: number;
  busy: number;
  noAnswer: number;
  canceled: number;
}

export interface CallVolume {
  groupBy: string;
  tz: string;
  buckets: VolumeBucket[];
}

export interface CallDuration {
  count: number;
  total: number;
  mean: number;
  median: number;
  p90: number;
  min: number;
  max: number;
  buckets: { label: string; minSecs: number; maxSecs: number; count: number }[];
}

export interface CallOutcomes {
  total: number;
  byStatus: Record<string, number>;
  byOutcome: Record<string, number>;
  byAnsweredBy: Record<string, number>;
}

export interface Sentiment {
  total: number;
  averageScore: number;
  distribution: { positive: number; neutral: number; negative: number };
  trend: { start: string; count: number; averageScore: number; positive: number; neutral: number; negative: number }[];
}

export const LIVE_STATUSES = ["initiated", "ringing", "in-progress"];
export const CALL_STATUSES = [...LIVE_STATUSES, "completed", "busy", "no-answer", "failed", "canceled"];
