import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

/** Every error the HTTP API answers has this shape; a 400 also names the offending field. */
export class ErrorDoc {
  @ApiProperty({ example: 400 })
  statusCode: number;

  @ApiProperty({ example: 'Bad Request' })
  error: string;

  @ApiProperty({ example: 'userIds must be an array of at least one id' })
  message: string;

  @ApiPropertyOptional({
    description: '400 only: the request field at fault (path parameter, query parameter, body property, or "body")',
    example: 'userIds',
  })
  field?: string;
}
